#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "topology/env.hpp"
#include "topology/hwloc_cache.hpp"
#include "topology/sources.hpp"
#include "topology/tiermem_dax.hpp"

namespace tiermem {

const char *to_string(DaxMode mode) noexcept {
  switch (mode) {
    case DaxMode::devdax: return "devdax";
    case DaxMode::system_ram: return "system-ram";
    case DaxMode::unbound: return "unbound";
    case DaxMode::other: return "other";
  }
  return "other";
}

namespace {

void merge_hwloc(std::vector<NumaNode> &nodes, const std::vector<topology::HwlocNode> &hw) {
  for (const auto &h : hw)
    for (auto &n : nodes)
      if (n.os_index == h.os_index) {
        n.subtype = h.subtype;
        n.bandwidth_mbps = h.bandwidth_mbps;
        n.latency_ns = h.latency_ns;
        if (n.capacity_bytes == 0) n.capacity_bytes = h.capacity_bytes;
      }
}

// A devdax device's target node is usually offline (its memory is not onlined); list it so
// that the device's place can be explained, but as offline with no capacity.
void add_offline_targets(std::vector<NumaNode> &nodes, const std::vector<DaxDevice> &dax) {
  for (const auto &d : dax) {
    if (!d.target_node) continue;
    const auto idx = static_cast<unsigned>(*d.target_node);
    if (std::none_of(nodes.begin(), nodes.end(), [&](const NumaNode &n) { return n.os_index == idx; })) {
      NumaNode n;
      n.os_index = idx;
      nodes.push_back(n);
    }
  }
  std::sort(nodes.begin(), nodes.end(),
            [](const NumaNode &a, const NumaNode &b) { return a.os_index < b.os_index; });
}

template <class T>
nlohmann::ordered_json opt(const std::optional<T> &v) {
  return v ? nlohmann::ordered_json(*v) : nlohmann::ordered_json(nullptr);
}

nlohmann::ordered_json dax_json(const DaxDevice &d) {
  return {{"name", d.name},          {"path", d.path},
          {"size", d.size},          {"align", d.align},
          {"target_node", opt(d.target_node)}, {"resource", opt(d.resource)},
          {"mode", to_string(d.mode)}, {"driver", d.driver}};
}

}  // namespace

Topology Topology::from_parts(std::vector<NumaNode> nodes, std::vector<DaxDevice> dax) {
  add_offline_targets(nodes, dax);
  Topology t;
  t.tiers_ = topology::rank_tiers(nodes, dax);
  t.nodes_ = std::move(nodes);
  t.dax_ = std::move(dax);
  return t;
}

Topology Topology::discover(const DiscoverOptions &options) {
  if (!options.hwloc_xml.empty()) {
    std::vector<NumaNode> nodes;
    for (const auto &h : topology::read_hwloc_xml(options.hwloc_xml)) {
      NumaNode n;
      n.os_index = h.os_index;
      n.online = true;
      n.has_cpus = h.has_cpus_guess;
      n.capacity_bytes = h.capacity_bytes;
      n.subtype = h.subtype;
      n.bandwidth_mbps = h.bandwidth_mbps;
      n.latency_ns = h.latency_ns;
      nodes.push_back(std::move(n));
    }
    return from_parts(std::move(nodes), {});
  }
  const platform::SysfsRoot root(topology::env::fsroot_or(options.fsroot));
  auto nodes = topology::read_sysfs_nodes(root);
  merge_hwloc(nodes, topology::read_hwloc_cached(root));
  topology::read_memory_tiers(root, nodes);
  // Devices of the bundled tiermem_dax driver sit beside device-dax's and map the same way.
  auto dax = topology::read_dax_devices(root);
  for (auto &d : topology::read_tiermem_dax_devices(root)) dax.push_back(std::move(d));
  return from_parts(std::move(nodes), std::move(dax));
}

std::vector<topology::NodeState> topology::node_state(const DiscoverOptions &options) {
  if (!options.hwloc_xml.empty()) return {};
  return read_node_state(platform::SysfsRoot(topology::env::fsroot_or(options.fsroot)));
}

const NumaNode *Topology::node(unsigned os_index) const noexcept {
  for (const auto &n : nodes_)
    if (n.os_index == os_index) return &n;
  return nullptr;
}

const DaxDevice *Topology::dax_device(const std::string &name) const noexcept {
  for (const auto &d : dax_)
    if (d.name == name || d.path == name) return &d;
  return nullptr;
}

unsigned Topology::append_tier(Tier tier) {
  tier.rank = static_cast<unsigned>(tiers_.size());
  tiers_.push_back(std::move(tier));
  return tiers_.back().rank;
}

std::string Topology::to_json(int indent) const {
  using json = nlohmann::ordered_json;
  json tiers = json::array();
  for (const auto &t : tiers_) {
    json devs = json::array();
    for (auto i : t.dax_devices) devs.push_back(dax_json(dax_[i]));
    json jt = {{"rank", t.rank},
               {"kind", t.kind},
               {"numa_nodes", t.numa_nodes},
               {"capacity_bytes", t.capacity_bytes},
               {"bandwidth_mbps", opt(t.bandwidth_mbps)},
               {"latency_ns", opt(t.latency_ns)},
               {"dax_devices", devs},
               {"note", t.note}};
    if (t.emulated) {
      jt["emulated"] = true;
      jt["name"] = t.emulated_name;
    }
    tiers.push_back(std::move(jt));
  }
  json nodes = json::array();
  for (const auto &n : nodes_)
    nodes.push_back({{"os_index", n.os_index},
                     {"online", n.online},
                     {"has_cpus", n.has_cpus},
                     {"capacity_bytes", n.capacity_bytes},
                     {"subtype", n.subtype},
                     {"kind", n.online ? topology::node_kind(n) : "offline"},
                     {"bandwidth_mbps", opt(n.bandwidth_mbps)},
                     {"latency_ns", opt(n.latency_ns)},
                     {"memory_tier", opt(n.memory_tier)}});
  json dax = json::array();
  for (const auto &d : dax_) dax.push_back(dax_json(d));
  json doc = {{"tiers", tiers}, {"nodes", nodes}, {"dax_devices", dax}};
  // Names come from the machine (driver links, hwloc subtypes) and may be any bytes: invalid
  // UTF-8 is written as U+FFFD instead of making dump() throw.
  return doc.dump(indent, ' ', false, json::error_handler_t::replace);
}

}  // namespace tiermem

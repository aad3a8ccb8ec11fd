#include "topology/spec.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>

namespace tiermem::topology {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool parse_uint(std::string_view s, unsigned &out) {
  if (s.empty() || s.size() > 9) return false;
  unsigned v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  out = v;
  return true;
}

TierTarget from_tier(const Topology &topo, unsigned rank, const std::string &spec) {
  const Tier &t = topo.tiers()[rank];
  TierTarget g;
  g.rank = static_cast<int>(rank);
  g.kind = t.kind;
  if (t.emulated) {
    g.source = TierTarget::Source::emulated;
    g.emulated_name = t.emulated_name;
    g.size = t.capacity_bytes;
    g.key = g.name = "emulated:" + t.emulated_name;
    return g;
  }
  if (!t.numa_nodes.empty()) {
    g.nodes = t.numa_nodes;
    std::sort(g.nodes.begin(), g.nodes.end());
    for (unsigned n : g.nodes) {
      if (const NumaNode *node = topo.node(n)) g.node_bytes += node->capacity_bytes;
    }
    g.key = "nodes:";
    for (unsigned n : g.nodes) g.key += std::to_string(n) + ",";
    g.name = g.nodes.size() == 1 ? "node:" + std::to_string(g.nodes[0]) : "rank:" + std::to_string(rank);
    return g;
  }
  for (std::size_t i : t.dax_devices) {
    const DaxDevice &d = topo.dax_devices()[i];
    if (d.mode != DaxMode::devdax) continue;
    g.source = TierTarget::Source::devdax;
    g.dax_path = d.path;
    g.size = d.size;
    g.align = d.align;
    g.key = g.name = "dax:" + d.name;
    return g;
  }
  throw Error(-ENODEV, "tiermem: tier '" + spec + "' (" + t.kind +
                           ") has no NUMA node and no device in devdax mode to allocate from; "
                           "see `tiermem list`");
}

// The kind of the topology tier a node belongs to: one memory reports one kind, however it
// was named (node:N, dax:daxX.Y in system-ram mode, or a rank holding more nodes).
std::string kind_of_node(const Topology &topo, unsigned n) {
  for (const Tier &t : topo.tiers()) {
    if (std::find(t.numa_nodes.begin(), t.numa_nodes.end(), n) != t.numa_nodes.end()) return t.kind;
  }
  const NumaNode *node = topo.node(n);
  return node != nullptr && !node->subtype.empty() ? node->subtype : "node";
}

// The rank of the (non-emulated) tier made of exactly node n, or -1.
int whole_tier_of_node(const Topology &topo, unsigned n) {
  const auto &tiers = topo.tiers();
  for (unsigned i = 0; i < tiers.size(); ++i) {
    if (!tiers[i].emulated && tiers[i].numa_nodes == std::vector<unsigned>{n}) return static_cast<int>(i);
  }
  return -1;
}

bool known_key(std::string_view key) noexcept {
  for (const char *k : {"rank", "kind", "node", "dax", "emulated"}) {
    if (key.size() == std::char_traits<char>::length(k) &&
        std::equal(key.begin(), key.end(), k, [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == b;
        }))
      return true;
  }
  return false;
}

[[noreturn]] void not_a_tier(const std::string &spec) {
  throw Error(-EINVAL, "tiermem: '" + spec + "' is not a tier; " + kSpecHelp);
}

}  // namespace

bool well_formed_spec(std::string_view spec) noexcept {
  std::size_t colon = spec.find(':');
  return colon != spec.npos && colon + 1 < spec.size() && known_key(spec.substr(0, colon));
}

TierTarget resolve_spec(const Topology &topo, std::string_view spec_view,
                        std::string_view why_unknown) {
  const std::string note = why_unknown.empty() ? "" : " (" + std::string(why_unknown) + ")";
  std::string spec(spec_view);
  std::size_t colon = spec.find(':');
  if (colon == std::string::npos || !known_key(std::string_view(spec).substr(0, colon))) {
    not_a_tier(spec);
  }
  std::string key = lower(spec.substr(0, colon));
  std::string val = spec.substr(colon + 1);
  const auto &tiers = topo.tiers();
  unsigned n = 0;
  if (key == "rank") {
    if (!parse_uint(val, n)) throw Error(-EINVAL, "tiermem: '" + spec + "': rank must be a number");
    if (n >= tiers.size()) {
      throw Error(-ENOENT, "tiermem: no tier '" + spec + "': this machine has " +
                               std::to_string(tiers.size()) + " tier(s)" + note +
                               "; see `tiermem list`");
    }
    return from_tier(topo, n, spec);
  }
  if (key == "kind") {
    std::string want = lower(val);
    for (unsigned i = 0; i < tiers.size(); ++i) {
      if (lower(tiers[i].kind) == want) return from_tier(topo, i, spec);
    }
    throw Error(-ENOENT, "tiermem: no tier of kind '" + val + "' on this machine" +
                             note + "; see `tiermem list`");
  }
  if (key == "node") {
    if (!parse_uint(val, n)) throw Error(-EINVAL, "tiermem: '" + spec + "': node must be a number");
    const NumaNode *node = topo.node(n);
    if (node == nullptr || !node->online) {
      throw Error(-ENOENT, "tiermem: no online NUMA node " + val + " for '" + spec + "'" +
                               note + "; see `tiermem list`");
    }
    // A node that is a whole tier is that tier, whichever name opens it first.
    if (int rank = whole_tier_of_node(topo, n); rank >= 0) {
      return from_tier(topo, static_cast<unsigned>(rank), spec);
    }
    TierTarget g;
    g.nodes = {n};
    g.node_bytes = node->capacity_bytes;
    g.key = "nodes:" + std::to_string(n) + ",";
    g.name = "node:" + std::to_string(n);
    g.kind = kind_of_node(topo, n);
    return g;
  }
  if (key == "dax") {
    std::string name = val.rfind("/dev/", 0) == 0 ? val.substr(5) : val;
    const DaxDevice *d = topo.dax_device(name);
    if (d == nullptr) {
      throw Error(-ENOENT, "tiermem: no dax device '" + val + "'" + note +
                               "; see `tiermem list` or `daxctl list`");
    }
    if (d->mode == DaxMode::system_ram) {
      // Onlined as system RAM: the device's memory is its target node's (node backend).
      if (!d->target_node) {
        throw Error(-ENODEV, "tiermem: " + name + " is in system-ram mode but its target node "
                                 "is unknown; see `daxctl list`");
      }
      unsigned target = static_cast<unsigned>(*d->target_node);
      // The same memory as node:N, so the same tier as node:N (and its kind).
      if (int rank = whole_tier_of_node(topo, target); rank >= 0) {
        return from_tier(topo, static_cast<unsigned>(rank), spec);
      }
      TierTarget g;
      g.nodes = {target};
      if (const NumaNode *node = topo.node(target)) g.node_bytes = node->capacity_bytes;
      g.key = "nodes:" + std::to_string(target) + ",";
      g.name = "node:" + std::to_string(target);
      g.kind = kind_of_node(topo, target);
      return g;
    }
    if (d->mode != DaxMode::devdax) {
      throw Error(-ENODEV, "tiermem: " + name + " is " + to_string(d->mode) +
                               (d->driver.empty() ? "" : " (driver " + d->driver + ")") +
                               "; run `daxctl reconfigure-device --mode=devdax " + name +
                               "` (or --mode=system-ram)");
    }
    TierTarget g;
    g.source = TierTarget::Source::devdax;
    g.dax_path = d->path;
    g.size = d->size;
    g.align = d->align;
    g.key = g.name = "dax:" + d->name;
    g.kind = "devdax";
    return g;
  }
  if (key == "emulated") {
    std::string have;
    for (unsigned i = 0; i < tiers.size(); ++i) {
      if (!tiers[i].emulated) continue;
      if (tiers[i].emulated_name == val) return from_tier(topo, i, spec);
      have += (have.empty() ? "" : ", ") + tiers[i].emulated_name;
    }
    throw Error(-ENOENT, "tiermem: no emulated tier '" + val + "' (" +
                             (have.empty() ? "TIERMEM_EMULATE is unset" : "have: " + have) +
                             "); set e.g. TIERMEM_EMULATE=" + val + ":1G");
  }
  not_a_tier(spec);
}

}  // namespace tiermem::topology

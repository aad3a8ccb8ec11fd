#include <algorithm>
#include <cerrno>
#include <charconv>

#include "platform/text.hpp"
#include "topology/dax.hpp"
#include "topology/sources.hpp"

namespace tiermem::topology {

namespace {

bool starts_with(const std::string &s, const char *prefix) { return s.rfind(prefix, 0) == 0; }

std::optional<unsigned> suffix_number(const std::string &name, const char *prefix) {
  if (!starts_with(name, prefix)) return std::nullopt;
  auto v = platform::parse_u64(name.substr(std::char_traits<char>::length(prefix)));
  if (!v) return std::nullopt;
  return static_cast<unsigned>(*v);
}

// "Node 0 MemTotal:       3005392 kB" -> bytes (`field` is "MemTotal", "MemFree", ...)
std::optional<std::uint64_t> meminfo_field(const platform::SysfsRoot &root, const std::string &rel,
                                           const std::string &field) {
  auto text = root.read_optional(rel);
  if (!text) return std::nullopt;
  const std::string key = field + ":";
  for (std::string_view line : platform::split(*text, '\n')) {
    auto pos = line.find(key);
    if (pos == std::string_view::npos) continue;
    auto f = platform::words(line.substr(pos + key.size()));
    std::uint64_t kb = 0;
    bool ok = f.size() == 2 && f[1] == "kB" &&
              std::from_chars(f[0].data(), f[0].data() + f[0].size(), kb).ptr == f[0].data() + f[0].size();
    if (!ok)
      throw Error(-EINVAL, "tiermem: " + root.path(rel) + ": malformed " + field + " line '" +
                               std::string(line) + "'; the file is corrupt");
    return kb * 1024;
  }
  throw Error(-EINVAL, "tiermem: " + root.path(rel) + " has no " + field + " line; the file is corrupt");
}

std::uint64_t meminfo_total(const platform::SysfsRoot &root, const std::string &rel) {
  return meminfo_field(root, rel, "MemTotal").value_or(0);
}

}  // namespace

std::vector<NumaNode> read_sysfs_nodes(const platform::SysfsRoot &root) {
  const std::string base = "sys/devices/system/node";
  std::vector<unsigned> online, with_cpu;
  bool have_online = root.exists(base + "/online");
  if (have_online) online = root.read_list(base + "/online");
  bool have_has_cpu = root.exists(base + "/has_cpu");
  if (have_has_cpu) with_cpu = root.read_list(base + "/has_cpu");
  auto contains = [](const std::vector<unsigned> &v, unsigned x) {
    for (unsigned y : v)
      if (y == x) return true;
    return false;
  };

  std::vector<NumaNode> nodes;
  for (const auto &name : root.list(base)) {
    auto idx = suffix_number(name, "node");
    if (!idx || !root.is_dir(base + "/" + name)) continue;
    const std::string dir = base + "/" + name;
    NumaNode n;
    n.os_index = *idx;
    // A node directory exists only for online nodes, but trust `online` when present.
    n.online = have_online ? contains(online, *idx) : true;
    if (have_has_cpu) {
      n.has_cpus = contains(with_cpu, *idx);
    } else if (root.exists(dir + "/cpulist")) {
      n.has_cpus = !root.read_list(dir + "/cpulist").empty();
    } else if (root.exists(dir + "/cpumap")) {
      n.has_cpus = root.read_mask_nonzero(dir + "/cpumap");
    }
    n.capacity_bytes = meminfo_total(root, dir + "/meminfo");
    if (root.exists(dir + "/distance")) {
      const std::string row = root.read(dir + "/distance");
      for (std::string_view w : platform::words(row)) {
        unsigned d = 0;
        if (std::from_chars(w.data(), w.data() + w.size(), d).ptr != w.data() + w.size())
          throw Error(-EINVAL, "tiermem: " + root.path(dir + "/distance") +
                                   " is not a list of distances; the file is corrupt");
        n.distances.push_back(d);
      }
    }
    nodes.push_back(std::move(n));
  }
  if (nodes.empty())
    throw Error(-ENOENT, "tiermem: " + root.path(base) +
                             " lists no node directories; is this a Linux sysfs with NUMA?");
  // Distance rows are in order of the online nodes (the kernel prints them that way).
  std::vector<unsigned> order;
  for (const auto &n : nodes) order.push_back(n.os_index);
  for (auto &n : nodes)
    if (n.distances.size() == order.size()) n.distance_nodes = order;
    else n.distances.clear();
  return nodes;
}

std::vector<NodeState> read_node_state(const platform::SysfsRoot &root) {
  const std::string base = "sys/devices/system/node";
  std::vector<NodeState> out;
  for (const auto &name : root.list(base)) {
    auto idx = suffix_number(name, "node");
    if (!idx || !root.is_dir(base + "/" + name)) continue;
    const std::string dir = base + "/" + name;
    NodeState n;
    n.node = *idx;
    if (root.exists(dir + "/cpulist")) n.cpus = root.read_list(dir + "/cpulist");
    n.total_bytes = meminfo_field(root, dir + "/meminfo", "MemTotal");
    if (n.total_bytes) n.free_bytes = meminfo_field(root, dir + "/meminfo", "MemFree");
    out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end(), [](const NodeState &a, const NodeState &b) { return a.node < b.node; });
  return out;
}

std::vector<DaxDevice> read_dax_devices(const platform::SysfsRoot &root) {
  const std::string base = dax_base(root);
  std::vector<DaxDevice> out;
  if (base.empty()) return out;
  for (const auto &name : root.list(base)) {
    if (!starts_with(name, "dax")) continue;
    out.push_back(read_dax_device(root, base, name));
  }
  return out;
}

std::optional<int> read_target_node(const platform::SysfsRoot &root, const std::string &rel) {
  const auto t = root.read_i64_optional(rel);
  if (!t || *t == -1) return std::nullopt;
  // Kernel node numbers are ints below MAX_NUMNODES; anything else would be truncated into
  // some other node's number.
  if (*t < 0 || *t > 65535)
    throw Error(-EINVAL, "tiermem: " + root.path(rel) + ": '" + std::to_string(*t) +
                             "' is not a NUMA node number; the file is corrupt");
  return static_cast<int>(*t);
}

void read_memory_tiers(const platform::SysfsRoot &root, std::vector<NumaNode> &nodes) {
  const std::string base = "sys/devices/virtual/memory_tiering";
  for (const auto &name : root.list(base)) {
    auto id = suffix_number(name, "memory_tier");
    if (!id) continue;
    for (unsigned n : root.read_list(base + "/" + name + "/nodelist"))
      for (auto &node : nodes)
        if (node.os_index == n) node.memory_tier = static_cast<int>(*id);
  }
}

}  // namespace tiermem::topology

#include <hwloc.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "platform/text.hpp"
#include "topology/hwloc_lib.hpp"
#include "topology/sources.hpp"

namespace tiermem::topology {

namespace {

struct TopologyDeleter {
  void operator()(hwloc_topology *t) const { hwloc_lib().topology_destroy(t); }
};
using TopologyPtr = std::unique_ptr<hwloc_topology, TopologyDeleter>;

// hwloc takes a recorded root only through its environment; set the variables for the load
// and put back what the process had, so that discovery leaves no trace.
class ScopedEnv {
 public:
  void set(const char *name, const std::string &value) {
    const char *old = std::getenv(name);
    saved_.push_back({name, old != nullptr, old ? old : ""});
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it) {
      if (it->had) ::setenv(it->name, it->value.c_str(), 1);
      else ::unsetenv(it->name);
    }
  }

 private:
  struct Saved {
    const char *name;
    bool had;
    std::string value;
  };
  std::vector<Saved> saved_;
};

// Value of a memory attribute for `node` as seen from its local initiators: the initiator
// whose cpuset overlaps the node's locality when hwloc knows one, else the best value
// reported (hwloc marks higher-is-better attributes with HWLOC_MEMATTR_FLAG_HIGHER_FIRST).
std::optional<std::uint64_t> local_value(hwloc_topology_t topo, hwloc_memattr_id_t attr,
                                         hwloc_obj_t node) {
  const HwlocLib &hw = hwloc_lib();
  unsigned nr = 0;
  if (hw.memattr_get_initiators(topo, attr, node, 0, &nr, nullptr, nullptr) != 0 || nr == 0)
    return std::nullopt;
  std::vector<hwloc_location> initiators(nr);
  std::vector<hwloc_uint64_t> values(nr);
  if (hw.memattr_get_initiators(topo, attr, node, 0, &nr, initiators.data(), values.data()) != 0)
    return std::nullopt;
  unsigned long flags = 0;
  hw.memattr_get_flags(topo, attr, &flags);
  const bool higher_first = flags & HWLOC_MEMATTR_FLAG_HIGHER_FIRST;
  std::optional<std::uint64_t> local, best;
  for (unsigned i = 0; i < nr; ++i) {
    std::uint64_t v = values[i];
    if (!best || (higher_first ? v > *best : v < *best)) best = v;
    hwloc_const_cpuset_t where = nullptr;
    if (initiators[i].type == HWLOC_LOCATION_TYPE_CPUSET) where = initiators[i].location.cpuset;
    else if (initiators[i].type == HWLOC_LOCATION_TYPE_OBJECT)
      where = initiators[i].location.object->cpuset;
    if (where && node->cpuset && hw.bitmap_intersects(where, node->cpuset))
      if (!local || (higher_first ? v > *local : v < *local)) local = v;
  }
  return local ? local : best;
}

std::vector<HwlocNode> collect(hwloc_topology_t topo) {
  const HwlocLib &hw = hwloc_lib();
  std::vector<HwlocNode> out;
  // A node whose locality is shared with another node listed before it at the same place
  // is, in hwloc's XML, usually the CPU-less one; sysfs replaces this guess when present.
  const int depth = hw.get_type_depth(topo, HWLOC_OBJ_NUMANODE);
  const unsigned count = hw.get_nbobjs_by_depth(topo, depth);
  for (unsigned i = 0; i < count; ++i) {
    hwloc_obj_t obj = hw.get_obj_by_depth(topo, depth, i);
    if (obj == nullptr) continue;
    HwlocNode n;
    n.os_index = obj->os_index;
    n.subtype = obj->subtype ? obj->subtype : "";
    n.capacity_bytes = obj->attr ? obj->attr->numanode.local_memory : 0;
    n.has_cpus_guess = obj->cpuset && !hw.bitmap_iszero(obj->cpuset) &&
                       (n.subtype.empty() || n.subtype == "DRAM");
    n.bandwidth_mbps = local_value(topo, HWLOC_MEMATTR_ID_BANDWIDTH, obj);
    n.latency_ns = local_value(topo, HWLOC_MEMATTR_ID_LATENCY, obj);
    out.push_back(std::move(n));
  }
  return out;
}

TopologyPtr init_topology() {
  const HwlocLib &hw = hwloc_lib();
  hwloc_topology_t raw = nullptr;
  if (hw.topology_init(&raw) != 0)
    throw Error(-ENOMEM, "tiermem: hwloc_topology_init failed: out of memory");
  TopologyPtr topo(raw);
  // Disallowed (cgroup-restricted) nodes are still memory of the machine: list them.
  hw.topology_set_flags(raw, HWLOC_TOPOLOGY_FLAG_INCLUDE_DISALLOWED);
  // Memory only: I/O devices are irrelevant here and slow to read on large machines.
  hw.topology_set_io_types_filter(raw, HWLOC_TYPE_FILTER_KEEP_NONE);
  return topo;
}

}  // namespace

std::vector<HwlocNode> read_hwloc_fsroot(const std::string &root) {
  auto topo = init_topology();
  ScopedEnv env;
  if (root != "/") {
    env.set("HWLOC_FSROOT", root);
    env.set("HWLOC_DUMPED_HWDATA_DIR", root + "/hwloc");
    if (platform::SysfsRoot::is_directory(root + "/topo-cpuid"))
      env.set("HWLOC_CPUID_PATH", root + "/topo-cpuid");
    // A recorded machine is not this system: never bind or read live cpuid through it.
    env.set("HWLOC_THISSYSTEM", "0");
  }
  if (hwloc_lib().topology_load(topo.get()) != 0)
    throw Error(-errno ? -errno : -EIO, "tiermem: hwloc could not read the topology below " +
                                            root + ": " + std::strerror(errno));
  return collect(topo.get());
}

std::vector<HwlocNode> read_hwloc_xml(const std::string &xml_path) {
  int err = 0;
  auto text = platform::read_file(xml_path, err);
  if (!text)
    throw Error(-err, "tiermem: hwloc XML " + xml_path + " cannot be opened: " + std::strerror(err));
  const std::string head = text->substr(0, 512);
  if (head.find("<topology") == std::string::npos)
    throw Error(-EINVAL, "tiermem: " + xml_path +
                             " is not an hwloc topology XML (no <topology> element near its start)");
  // hwloc 2.x cannot import the version-3 format; say so instead of "invalid argument".
  const auto tpos = head.find("<topology");
  const auto tend = head.find('>', tpos);
  const auto vpos = head.find("version=\"", tpos);
  if (vpos != std::string::npos && vpos < tend) {
    const std::string version = head.substr(vpos + 9, head.find('"', vpos + 9) - vpos - 9);
    if (!version.empty() && version[0] > '2')
      throw Error(-EINVAL, "tiermem: " + xml_path + " is hwloc XML version " + version +
                               ", newer than this hwloc " HWLOC_VERSION
                               " reads; export it with hwloc 2.x (lstopo --of xml) instead");
  }

  auto topo = init_topology();
  if (hwloc_lib().topology_set_xml(topo.get(), xml_path.c_str()) != 0)
    throw Error(-EINVAL, "tiermem: hwloc rejected " + xml_path + ": " + std::strerror(errno));
  // hwloc prints its own XML diagnostics to stderr; HWLOC_XML_VERBOSE stays as the user set it.
  if (hwloc_lib().topology_load(topo.get()) != 0)
    throw Error(-EINVAL, "tiermem: " + xml_path +
                             " is truncated or not a valid hwloc XML; re-export it with lstopo");
  auto nodes = collect(topo.get());
  if (nodes.empty())
    throw Error(-EINVAL, "tiermem: " + xml_path + " describes no NUMA node; it is incomplete");
  return nodes;
}

}  // namespace tiermem::topology

// C ABI over tiermem::Topology. The C structs point into storage owned by tm_topology, so a
// caller's pointers stay valid until tm_topology_free().
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>

#include "api/error.hpp"
#include "tiermem/tiermem.h"
#include "tiermem/topology.hpp"

struct tm_topology {
  tiermem::Topology topo;
  std::vector<std::vector<unsigned>> tier_nodes;  // stable copies for tm_tier_info
};

namespace {
std::int64_t or_unknown(const std::optional<std::uint64_t> &v) {
  return v ? static_cast<std::int64_t>(*v) : -1;
}
}  // namespace

extern "C" {

TM_API int tm_topology_load(const tm_topology_options *opts, tm_topology **out) {
  if (out == nullptr)
    return tiermem::api::set_last_error(-EINVAL, "tiermem: tm_topology_load: out is NULL");
  *out = nullptr;
  return tiermem::api::guard([&] {
    tiermem::DiscoverOptions o;
    if (opts && opts->fsroot) o.fsroot = opts->fsroot;
    if (opts && opts->hwloc_xml) o.hwloc_xml = opts->hwloc_xml;
    auto t = std::make_unique<tm_topology>(tm_topology{tiermem::Topology::discover(o), {}});
    *out = t.release();
    return 0;
  });
}

TM_API void tm_topology_free(tm_topology *topo) { delete topo; }

TM_API size_t tm_topology_tier_count(const tm_topology *t) { return t ? t->topo.tiers().size() : 0; }
TM_API size_t tm_topology_node_count(const tm_topology *t) { return t ? t->topo.nodes().size() : 0; }
TM_API size_t tm_topology_dax_count(const tm_topology *t) { return t ? t->topo.dax_devices().size() : 0; }

TM_API int tm_topology_tier(const tm_topology *t, size_t i, tm_tier_info *out) {
  if (!t || !out) return tiermem::api::set_last_error(-EINVAL, "tiermem: tm_topology_tier: NULL argument");
  if (i >= t->topo.tiers().size())
    return tiermem::api::set_last_error(-ERANGE, "tiermem: tm_topology_tier: index " +
                                                     std::to_string(i) + " is past the last tier");
  const auto &tier = t->topo.tiers()[i];
  out->rank = tier.rank;
  out->kind = tier.kind.c_str();
  out->numa_nodes = tier.numa_nodes.data();
  out->numa_node_count = tier.numa_nodes.size();
  out->dax_devices = tier.dax_devices.data();
  out->dax_device_count = tier.dax_devices.size();
  out->capacity_bytes = tier.capacity_bytes;
  out->bandwidth_mbps = or_unknown(tier.bandwidth_mbps);
  out->latency_ns = or_unknown(tier.latency_ns);
  out->note = tier.note.c_str();
  return 0;
}

TM_API int tm_topology_node(const tm_topology *t, size_t i, tm_node_info *out) {
  if (!t || !out) return tiermem::api::set_last_error(-EINVAL, "tiermem: tm_topology_node: NULL argument");
  if (i >= t->topo.nodes().size())
    return tiermem::api::set_last_error(-ERANGE, "tiermem: tm_topology_node: index " +
                                                     std::to_string(i) + " is past the last node");
  const auto &n = t->topo.nodes()[i];
  out->os_index = n.os_index;
  out->online = n.online;
  out->has_cpus = n.has_cpus;
  out->capacity_bytes = n.capacity_bytes;
  out->subtype = n.subtype.c_str();
  out->bandwidth_mbps = or_unknown(n.bandwidth_mbps);
  out->latency_ns = or_unknown(n.latency_ns);
  out->memory_tier = n.memory_tier.value_or(-1);
  return 0;
}

TM_API int tm_topology_dax(const tm_topology *t, size_t i, tm_dax_info *out) {
  if (!t || !out) return tiermem::api::set_last_error(-EINVAL, "tiermem: tm_topology_dax: NULL argument");
  if (i >= t->topo.dax_devices().size())
    return tiermem::api::set_last_error(-ERANGE, "tiermem: tm_topology_dax: index " +
                                                     std::to_string(i) + " is past the last device");
  const auto &d = t->topo.dax_devices()[i];
  out->name = d.name.c_str();
  out->path = d.path.c_str();
  out->size = d.size;
  out->align = d.align;
  out->target_node = d.target_node.value_or(-1);
  out->resource = d.resource ? static_cast<std::int64_t>(*d.resource) : -1;
  out->mode = static_cast<tm_dax_mode>(d.mode);
  out->driver = d.driver.c_str();
  return 0;
}

TM_API char *tm_topology_to_json(const tm_topology *t) {
  if (!t) return nullptr;
  try {
    std::string s = t->topo.to_json();
    char *out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out) std::memcpy(out, s.c_str(), s.size() + 1);
    return out;
  } catch (...) {
    return nullptr;
  }
}

}  // extern "C"

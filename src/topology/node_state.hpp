// What a NUMA node has now, as opposed to what it is (tiermem/topology.hpp): its CPUs and its
// free memory, read from sysfs when asked. Not part of discovery: the heap never needs it, and
// a free-memory figure would be stale the moment discovery returned. For `tiermem hardware`,
// `tiermem show` and `tiermem run --cpunodebind`.
#pragma once
#include <cstdint>
#include <optional>
#include <vector>

#include "tiermem/topology.hpp"

namespace tiermem::topology {

struct NodeState {
  unsigned node = 0;
  std::vector<unsigned> cpus;               ///< the node's cpulist (empty: memory only)
  std::optional<std::uint64_t> total_bytes; ///< MemTotal of the node's meminfo
  std::optional<std::uint64_t> free_bytes;  ///< MemFree of the node's meminfo
};

/**
 * Every node directory below the root `options` names (fsroot, else TIERMEM_FSROOT, else
 * "/"), in node order; empty for an hwloc XML, which records no such state.
 * Throws tiermem::Error naming a corrupt file.
 */
std::vector<NodeState> node_state(const DiscoverOptions &options);

}  // namespace tiermem::topology

// The two readers discovery merges: the kernel's sysfs ABI (nodes, dax devices, memory
// tiers) and hwloc (subtypes, capacities, memory attributes). Both fill plain value types.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "platform/sysfs.hpp"
#include "tiermem/topology.hpp"
#include "topology/node_state.hpp"

namespace tiermem::topology {

/** NUMA nodes from /sys/devices/system/node: online, has_cpus, capacity, distances. */
std::vector<NumaNode> read_sysfs_nodes(const platform::SysfsRoot &root);
/** Each node's CPUs and memory now (see node_state.hpp). */
std::vector<NodeState> read_node_state(const platform::SysfsRoot &root);

/**
 * Dax devices from /sys/bus/dax/devices, else the older /sys/class/dax layout
 * (Documentation/ABI/testing/sysfs-bus-dax and -class-dax).
 */
std::vector<DaxDevice> read_dax_devices(const platform::SysfsRoot &root);

/**
 * A dax device's `target_node` file: the node, nullopt when absent or -1 (none). Throws
 * tiermem::Error naming the file for anything that is not -1 or a node number.
 */
std::optional<int> read_target_node(const platform::SysfsRoot &root, const std::string &rel);

/** Fills NumaNode::memory_tier from /sys/devices/virtual/memory_tiering/memory_tier*. */
void read_memory_tiers(const platform::SysfsRoot &root, std::vector<NumaNode> &nodes);

/** What hwloc knows of one node. */
struct HwlocNode {
  unsigned os_index = 0;
  std::string subtype;
  std::uint64_t capacity_bytes = 0;
  bool has_cpus_guess = false;  ///< only meaningful for XML input (sysfs is authoritative)
  std::optional<std::uint64_t> bandwidth_mbps;
  std::optional<std::uint64_t> latency_ns;
};

/** Loads hwloc from a recorded root ("/" = this machine). Throws tiermem::Error. */
std::vector<HwlocNode> read_hwloc_fsroot(const std::string &root);
/** Loads hwloc from an XML file. Throws tiermem::Error naming the file. */
std::vector<HwlocNode> read_hwloc_xml(const std::string &xml_path);

/** Groups nodes and devices into ranked tiers (the rule is documented in the README). */
std::vector<Tier> rank_tiers(const std::vector<NumaNode> &nodes,
                             const std::vector<DaxDevice> &dax);

}  // namespace tiermem::topology

namespace tiermem::topology {
/** The node's kind: hwloc's subtype, "DRAM" for a node with CPUs and none, else "unknown". */
std::string node_kind(const NumaNode &n);
}  // namespace tiermem::topology

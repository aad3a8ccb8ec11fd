/**
 * @file topology.hpp
 * @brief C++ view of the machine's memories: NUMA nodes, dax devices and ranked tiers.
 *
 * Discovered once (`Topology::discover`), then queried freely; nothing here touches sysfs
 * after construction. Failures throw tiermem::Error with a message naming the file.
 */
#pragma once
#if !defined(__cplusplus) || __cplusplus < 201703L
#error "tiermem/topology.hpp needs C++17 or later; compile with -std=c++17 (or newer)"
#endif
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tiermem/error.hpp"
#include "tiermem/tiermem.h"  // as before: users of this header got the C ABI with it

namespace tiermem {

enum class DaxMode { devdax, system_ram, unbound, other };

/** "devdax", "system-ram", "unbound", "other" (the names daxctl uses). */
TM_API const char *to_string(DaxMode mode) noexcept;

struct NumaNode {
  unsigned os_index = 0;
  bool online = false;
  bool has_cpus = false;
  std::uint64_t capacity_bytes = 0;
  std::string subtype;                         ///< hwloc subtype ("DRAM", "HBM", ...) or ""
  std::optional<std::uint64_t> bandwidth_mbps; ///< hwloc Bandwidth from local initiators
  std::optional<std::uint64_t> latency_ns;     ///< hwloc Latency from local initiators
  std::optional<int> memory_tier;              ///< kernel memory_tiering id
  std::vector<unsigned> distances;             ///< SLIT row, indexed like distance_nodes
  std::vector<unsigned> distance_nodes;
};

struct DaxDevice {
  std::string name;   ///< "dax0.0"
  std::string path;   ///< "/dev/dax0.0"
  std::uint64_t size = 0;
  std::uint64_t align = 0;                ///< 0 when not exported
  std::optional<int> target_node;
  std::optional<std::uint64_t> resource;  ///< physical address, when visible
  DaxMode mode = DaxMode::unbound;
  std::string driver;                     ///< bound driver, "" when unbound
};

struct Tier {
  unsigned rank = 0;
  std::string kind;                          ///< "HBM", "DRAM", "NVM", ..., "unknown"
  std::vector<unsigned> numa_nodes;
  std::vector<std::size_t> dax_devices;      ///< indices into Topology::dax_devices()
  std::uint64_t capacity_bytes = 0;
  std::optional<std::uint64_t> bandwidth_mbps;
  std::optional<std::uint64_t> latency_ns;
  std::string note;                          ///< why it sits where it does, when not obvious
  bool emulated = false;                     ///< a memfd-backed stand-in (TIERMEM_EMULATE)
  std::string emulated_name;                 ///< its name, for "emulated:NAME"
};

struct DiscoverOptions {
  /** Root of a recorded machine; empty: TIERMEM_FSROOT, else the real "/". */
  std::string fsroot;
  /** hwloc XML to read instead of sysfs; dax devices are then absent. */
  std::string hwloc_xml;
};

class TM_API Topology {
 public:
  /** Reads hwloc and sysfs once and ranks the tiers. Throws tiermem::Error. */
  static Topology discover(const DiscoverOptions &options = {});

  const std::vector<NumaNode> &nodes() const noexcept { return nodes_; }
  const std::vector<DaxDevice> &dax_devices() const noexcept { return dax_; }
  const std::vector<Tier> &tiers() const noexcept { return tiers_; }

  const NumaNode *node(unsigned os_index) const noexcept;
  const DaxDevice *dax_device(const std::string &name) const noexcept;

  /** The `tiermem list --json` document (the key names are a contract). */
  std::string to_json(int indent = -1) const;

  /** Appends a tier after the existing ones (used for emulated tiers); returns its rank. */
  unsigned append_tier(Tier tier);

  /** Builds a topology from parts and ranks it (what discover() does after reading). */
  static Topology from_parts(std::vector<NumaNode> nodes, std::vector<DaxDevice> dax);

 private:
  std::vector<NumaNode> nodes_;
  std::vector<DaxDevice> dax_;
  std::vector<Tier> tiers_;
};

}  // namespace tiermem

// Tier specs ("rank:1", "kind:hbm", "node:2", "dax:dax0.0", "emulated:slow") resolved against
// a discovered topology, once, for every user: the heap opens what a spec names, and
// `tiermem run` decides before exec (without opening anything, so without reserving the
// heap's address space or locking a device) whether the kernel can serve it.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tiermem/topology.hpp"

namespace tiermem::topology {

/** Where a spec's memory comes from, as plain data. */
struct TierTarget {
  enum class Source { nodes, devdax, emulated };
  Source source = Source::nodes;
  std::vector<unsigned> nodes;   ///< sorted NUMA nodes (Source::nodes)
  std::uint64_t node_bytes = 0;  ///< sum of the nodes' capacities (0: unknown)
  std::string dax_path;          ///< "/dev/dax0.0" (Source::devdax)
  std::uint64_t size = 0;        ///< bytes of the device or emulated tier
  std::uint64_t align = 0;       ///< the device's alignment
  std::string emulated_name;
  /** Identifies the memory: two specs naming the same memory ("rank:0" and "node:0" on a
   *  one-node tier) have the same key. */
  std::string key;
  std::string name;              ///< canonical spec: "node:0", "rank:1", "dax:dax0.0", ...
  std::string kind;
  int rank = -1;                 ///< the tier's rank, -1 when the spec is not a whole tier
};

/** The spec grammar in one line, for messages: "use " and the grammar (kSpecGrammar). */
inline constexpr const char kSpecHelp[] =
    "use rank:N, kind:KIND, node:N, dax:daxX.Y or emulated:NAME";
/** The grammar alone, as the policy grammar quotes it: the same text, one place. */
inline constexpr const char *kSpecGrammar = kSpecHelp + 4;

/**
 * True when `spec` has the grammar's form: a known key (any case), a colon and a value.
 * resolve_spec() may still refuse the value, or find no such memory.
 */
bool well_formed_spec(std::string_view spec) noexcept;

/**
 * Resolves `spec` on `topo`. `why_unknown`, when the machine's tiers could not be discovered,
 * says why, and is quoted in not-found errors. Throws tiermem::Error (-EINVAL for a malformed
 * spec, -ENOENT for one this machine lacks, -ENODEV for memory tiermem cannot allocate from).
 */
TierTarget resolve_spec(const Topology &topo, std::string_view spec,
                        std::string_view why_unknown = {});

}  // namespace tiermem::topology

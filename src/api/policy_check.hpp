// Checking a policy for a launcher: the grammar and every tier it names, on a given machine,
// without opening a tier (so without reserving the heap's address space or locking a dax
// device). `tiermem run` calls it before exec so that a policy the program's heap would
// refuse is refused by the launcher instead, naming the user's flag.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "policy/policy.hpp"
#include "topology/spec.hpp"
#include "tiermem/topology.hpp"

namespace tiermem::api {

/**
 * Parses `text` (the policy grammar) and resolves each tier spec on `topo`; returns the
 * canonical text. Throws tiermem::Error with the parser's or the resolver's message.
 */
std::string check_policy(std::string_view text, const Topology &topo);

/** What an auto(FAST<=SIZE, SLOW) policy names, checked (see check_auto). */
struct AutoPlan {
  topology::TierTarget fast, slow;
  std::uint64_t budget = 0;
  int fast_node = 0;  ///< FAST's one NUMA node: the migration engine's fast node
  int slow_node = -1; ///< SLOW's one node when SLOW is a node tier, else -1 (a device or memfd)
};

/**
 * The checks of an auto policy `p` (Policy::Kind::automatic) on `topo`, each a one-line
 * tiermem::Error (-EINVAL) naming the policy, the tier and the remedy: FAST must be one NUMA
 * node; the budget at most FAST's memory; SLOW not ranked faster than FAST; FAST and SLOW
 * two different tiers; SLOW one node, an emulated tier or a device whose align is at most the
 * 2 MiB unit that moves.
 */
AutoPlan check_auto(const policy::Policy &p, const Topology &topo);

}  // namespace tiermem::api

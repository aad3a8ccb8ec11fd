// The machine as the api layer hands it to the heap: the discovered topology plus the
// TIERMEM_EMULATE tiers, discovered once. Tier specs are resolved against it here, so the heap
// only ever opens what it is given, and asking what a spec names (a launcher's question)
// opens nothing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>

#include "tiermem/topology.hpp"
#include "topology/spec.hpp"

namespace tiermem::api {

struct Machine {
  Topology topo = Topology::from_parts({}, {});
  std::string why_unknown;        ///< why the machine's own tiers are unknown, if they are
  std::uint64_t largest_tier = 0; ///< the largest tier's capacity: what the heap's slots hold
};

/**
 * Discovered on the first call, then the same value. A discovery that fails leaves the
 * machine without tiers of its own (why_unknown says why); a malformed TIERMEM_EMULATE throws
 * tiermem::Error, on this and every later call.
 */
const Machine &machine();

/** topology::resolve_spec on machine(). Throws tiermem::Error. */
topology::TierTarget resolve(std::string_view spec);

/**
 * For the front ends that show or plan another machine (`tiermem list --fsroot`):
 * Topology::discover(options) with the TIERMEM_EMULATE tiers appended, as the heap would see
 * it, discovered anew on each call. Throws tiermem::Error naming TIERMEM_EMULATE when it is
 * malformed.
 */
Topology discover_machine(const DiscoverOptions &options);

}  // namespace tiermem::api

// The machine as the api layer hands it to the heap: the discovered topology plus the
// TIERMEM_EMULATE tiers, discovered once. Tier specs are resolved against it here, so the heap
// only ever opens what it is given, and asking what a spec names (a launcher's question)
// opens nothing.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tiermem/topology.hpp"
#include "topology/node_state.hpp"
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

/** What a tier spec names: its NUMA nodes, its dax device or its emulated size. */
using TierTarget = topology::TierTarget;

/** topology::resolve_spec on machine(). Throws tiermem::Error. */
TierTarget resolve(std::string_view spec);

/**
 * topology::resolve_spec on a machine the front end loaded itself (`tiermem run --fsroot`):
 * `why_unknown` is why that machine's own tiers are unknown, if they are. Throws tiermem::Error.
 */
TierTarget resolve_on(const Topology &topo, std::string_view spec, const std::string &why_unknown);

/** Appends the TIERMEM_EMULATE tiers to `topo`, as machine() does. Throws tiermem::Error. */
void add_emulated_tiers(Topology &topo);

/** What a NUMA node has now (its CPUs, its free memory): topology/node_state.hpp. */
using NodeState = topology::NodeState;

/**
 * Every node's state below the root `options` names, in node order; empty for an hwloc XML.
 * Read anew on each call (a free-memory figure is stale at once). Throws tiermem::Error.
 */
std::vector<NodeState> node_state(const DiscoverOptions &options);

/**
 * For the front ends that show or plan another machine (`tiermem list --fsroot`):
 * Topology::discover(options) with the TIERMEM_EMULATE tiers appended, as the heap would see
 * it, discovered anew on each call. Throws tiermem::Error naming TIERMEM_EMULATE when it is
 * malformed.
 */
Topology discover_machine(const DiscoverOptions &options);

}  // namespace tiermem::api

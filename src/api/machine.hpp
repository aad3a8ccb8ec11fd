// The machine as tiermem serves it, for the front ends that show or plan it (`tiermem list`):
// discovery plus the TIERMEM_EMULATE tiers the heap adds.
#pragma once
#include "tiermem/topology.hpp"

namespace tiermem::api {

/**
 * Topology::discover(options) with the TIERMEM_EMULATE tiers appended, as the heap sees the
 * machine. Throws tiermem::Error naming TIERMEM_EMULATE when it is malformed.
 */
Topology machine(const DiscoverOptions &options);

}  // namespace tiermem::api

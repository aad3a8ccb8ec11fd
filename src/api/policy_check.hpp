// Checking a policy for a launcher: the grammar and every tier it names, on a given machine,
// without opening a tier (so without reserving the heap's address space or locking a dax
// device). `tiermem run` calls it before exec so that a policy the program's heap would
// refuse is refused by the launcher instead, naming the user's flag.
#pragma once
#include <string>
#include <string_view>

#include "tiermem/topology.hpp"

namespace tiermem::api {

/**
 * Parses `text` (the policy grammar) and resolves each tier spec on `topo`; returns the
 * canonical text. Throws tiermem::Error with the parser's or the resolver's message.
 */
std::string check_policy(std::string_view text, const Topology &topo);

}  // namespace tiermem::api

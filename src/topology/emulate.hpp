// TIERMEM_EMULATE: memfd-backed stand-in tiers for machines without tiered memory.
//
// Grammar:  TIERMEM_EMULATE = NAME:SIZE[,NAME:SIZE...]
//   NAME  letters, digits, '_' or '-', at most 32 characters, unique
//   SIZE  a positive integer with an optional binary suffix K, M, G or T (KiB..TiB; "B",
//         "iB" accepted, any case): "1G", "512M", "65536"; at most kMaxEmulatedBytes (4 TiB)
// Each entry becomes a tier ranked after every discovered tier, in the order given.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tiermem/topology.hpp"

namespace tiermem::topology {

struct EmulatedTierSpec {
  std::string name;
  std::uint64_t size = 0;
};

/**
 * The largest emulated tier: the heap's largest slot (heap/slots.cpp asserts that they agree),
 * checked here so that `tiermem list`, `tiermem run` and the heap refuse the same values.
 */
inline constexpr std::uint64_t kMaxEmulatedBytes = std::uint64_t{1} << 42;

/** Parses the TIERMEM_EMULATE grammar. Empty text gives no tiers. Throws tiermem::Error. */
std::vector<EmulatedTierSpec> parse_emulate(std::string_view text);

/** Appends one tier per spec (emulated=true, kind "emulated", a note saying so). */
void append_emulated(Topology &topology, const std::vector<EmulatedTierSpec> &specs);

/** parse_emulate(getenv("TIERMEM_EMULATE")) and append_emulated(); no-op when unset. */
void apply_emulate_env(Topology &topology);

}  // namespace tiermem::topology

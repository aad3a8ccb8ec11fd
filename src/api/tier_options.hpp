// What the environment sets for the tiers a program opens (TIERMEM_DECAY_MS, TIERMEM_THP), for
// every program using the library, not only the preload one; and the per-tier switches of the
// C ABI (tm_tier_set_decay_ms, tm_tier_set_huge_pages).
#pragma once
#include "heap/heap.hpp"

namespace tiermem::api {

/**
 * Before a tier opens: TIERMEM_DECAY_MS becomes the decay of tiers opened from now on, unless
 * the program chose one (tm_set_decay_ms). Throws tiermem::Error for a bad value (each call,
 * so every tm_tier_find reports it).
 */
void apply_env_before_open();
/**
 * After `tier` opened: TIERMEM_THP on a node tier, the first time the tier is seen. Throws
 * tiermem::Error for a bad value; a machine without THP gets one line on stderr, once.
 */
void apply_env_after_open(tm_tier *tier);
/**
 * MADV_HUGEPAGE (`on`) or MADV_NOHUGEPAGE over a node tier's memory. Throws tiermem::Error:
 * -ENOTSUP for another backend, or where the kernel's THP is "never" or missing (the switch
 * would have no effect), -errno when madvise fails.
 */
void set_huge_pages(tm_tier *tier, bool on);

}  // namespace tiermem::api

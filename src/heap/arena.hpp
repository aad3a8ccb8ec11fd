// A tier's memory: its backend, and the jemalloc arena drawing extents from it through the
// extent map's hooks (arena.cpp). Used by the registry when it opens a tier.
#pragma once
#include <cstddef>
#include <memory>

#include "backend/backend.hpp"
#include "topology/spec.hpp"

struct tm_tier;

namespace tiermem::heap {

/** Reads the largest small size class of this jemalloc build into g_small_max (once). */
void read_small_max();

/** The backend serving `target` in the slot [slot, slot + size). Throws tiermem::Error. */
std::unique_ptr<backend::Backend> open_backend(const topology::TierTarget &target,
                                               std::byte *slot, std::size_t size);

/**
 * Gives `tier` (its backend open, its slot set) its extent map and a jemalloc arena over it,
 * and the repair mask of a node tier. Throws tiermem::Error when jemalloc refuses the arena.
 */
void make_arena(tm_tier &tier, const topology::TierTarget &target);

}  // namespace tiermem::heap

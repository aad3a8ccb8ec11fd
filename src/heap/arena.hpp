// A tier's memory: its backend, and the jemalloc arena drawing extents from it through the
// extent map's hooks (arena.cpp). Used by the registry when it opens a tier.
#pragma once
#include <cstddef>
#include <memory>
#include <vector>

#include "backend/backend.hpp"
#include "topology/spec.hpp"

struct tm_tier;

namespace tiermem::heap {

/**
 * jemalloc's small size classes (`arenas.bin.<i>.size`), ascending: read once at heap open
 * for both g_small_max and the Fronts' class table. Empty when jemalloc does not answer.
 */
std::vector<std::size_t> read_small_classes();
/** g_small_max = the largest of `classes` (jemalloc's SC_SMALL_MAXCLASS); kept when empty. */
void set_small_max(const std::vector<std::size_t> &classes) noexcept;

/** The backend serving `target` in the slot [slot, slot + size). Throws tiermem::Error. */
std::unique_ptr<backend::Backend> open_backend(const topology::TierTarget &target,
                                               std::byte *slot, std::size_t size);

/**
 * Gives `tier` (its backend open, its slot set) its extent map and a jemalloc arena over it,
 * and the repair mask of a node tier. Throws tiermem::Error when jemalloc refuses the arena.
 */
void make_arena(tm_tier &tier, const topology::TierTarget &target);

}  // namespace tiermem::heap

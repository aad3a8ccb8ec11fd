// Where the heap meets the safety layer: poison reports name heap blocks, poisoned blocks are
// quarantined instead of freed, allocations never return poisoned memory, and repair mode
// replaces lost pages of node tiers. The heap and safety layers do not know each other; this
// file connects them. Hot paths call in only for a tier that had a memory error
// (tm_tier::poisoned, set when the SIGBUS handler asks who owns the address).
#pragma once
#include <cstddef>
#include <string_view>

#include "heap/heap.hpp"

namespace tiermem::api {

/**
 * The tier serving `spec` (resolved on api::machine(), the heap opened on first use), plus,
 * on first use, the wiring: the owner lookup, page repair, the purge
 * observer, TIERMEM_POISON, and the SIGBUS handler (so a plain load of poison in a block is
 * reported). Throws tiermem::Error (a bad TIERMEM_POISON names the text and the choices).
 */
tm_tier *find_tier(std::string_view spec);

/** True when any byte of block `p` lies in a recorded poisoned range. */
bool holds_poison(const void *p) noexcept;

/**
 * heap::allocate() after the first memory error: a block that overlaps no recorded poison
 * (each block jemalloc answers with that does is quarantined and another one taken), zeroed
 * by tiermem rather than by jemalloc when `extra_flags` asks for zero. nullptr when full.
 */
void *allocate_checked(tm_tier *tier, std::size_t n, int extra_flags) noexcept;

/** tm_free() after the first memory error: a block holding poison is quarantined. */
void free_checked(tm_tier *tier, void *p) noexcept;

/**
 * tm_realloc() after the first memory error, without jemalloc's rallocx. A clean block that
 * shrinks stays; otherwise the bytes move to a clean block: from a block holding poison by
 * tm_copy_mc (the poisoned units read as zero there), which is then quarantined. nullptr
 * when the tier is full (p untouched).
 */
void *realloc_checked(tm_tier *tier, void *p, std::size_t n) noexcept;

/**
 * Moves the first `n` bytes of block `p` of `tier` (at most its usable size) into `to`, a
 * block of any tier, then frees p: after a memory error in p by tm_copy_mc (the poisoned units
 * read as zero in `to`) and p is quarantined, otherwise memcpy and an ordinary free.
 */
void move_block(tm_tier *tier, void *p, void *to, std::size_t n) noexcept;

}  // namespace tiermem::api

// The heap's side of memory-error handling: which extent holds a poisoned address (from a
// signal handler), keeping poisoned blocks away from jemalloc for good (quarantine), and
// replacing a lost page of a node tier with a fresh zeroed one (repair).
#pragma once
#include <cstddef>
#include <cstdint>

struct tm_tier;

namespace tiermem::heap {

/**
 * A jemalloc extent of a tier: a large block (start is the pointer the program got; size
 * counts the block's pages, including jemalloc's trailing pad page) or a slab holding small
 * blocks of one size class (all of them share its pages).
 */
struct Extent {
  void *start = nullptr;
  std::size_t size = 0;
  tm_tier *tier = nullptr;
};

/** The extent holding `addr`; false when `addr` is not in memory a tier handed out. Async-signal-safe. */
bool extent_at(const void *addr, Extent *out) noexcept;

/**
 * Keeps block `p` of `tier` allocated for good instead of freeing it, and counts it in the
 * tier's statistics. Normal context.
 */
void quarantine(tm_tier *tier, void *p) noexcept;

/**
 * Replaces [start, start + len) (whole pages inside `tier`'s slot) with fresh zeroed pages
 * bound to the tier's nodes, as a node tier's memory is. Returns 0, -EOPNOTSUPP for a
 * devdax or emulated tier (their memory is a device or a file: nothing to swap in), or
 * -errno from mmap/mbind. Async-signal-safe (two system calls).
 */
int repair_pages(tm_tier *tier, std::uintptr_t start, std::size_t len) noexcept;

}  // namespace tiermem::heap

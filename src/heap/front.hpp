// The front cache: small blocks of every tier but a thread's first, at the speed of the first.
//
// A thread's first tier owns its automatic jemalloc tcache (tcache.cpp), so its small blocks
// take jemalloc's plain malloc/free fast path. Every further tier would need mallocx/dallocx
// with an explicit tcache, jemalloc's general path (about 2.5x the plain one). Instead each
// thread keeps, for up to kMaxFronts further tiers, a Front: per small size class (up to
// kFrontMax bytes) a stack of free blocks of that tier. tm_malloc pops, tm_free pushes (the
// block's class read from a byte per page, see g_front_pages); only an empty stack (refilled
// with half its capacity from the tier's front arena) or a full one (half flushed back through
// the tier's explicit tcache) reaches jemalloc. A stack holds blocks of one tier only, since
// each Front belongs to one slot.
//
// A block in a Front is free to tiermem and allocated to jemalloc, like a block in a jemalloc
// tcache: the tier's `allocated` statistic includes it, its peak (t_net) does not. The Fronts
// live in ordinary DRAM (the private jemalloc's arena 0), never in a tier. Tiers with a limit
// or a memory error (careful slots) bypass them: those frees must reach their bookkeeping.
// A thread's Fronts are flushed at its exit (tcache.cpp) and kept across fork by the forking
// thread; other threads' cached blocks are lost to the child, as their tcaches are.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "heap/jemalloc.hpp"
#include "heap/slots.hpp"

struct tm_tier;

namespace tiermem::heap {

inline constexpr std::size_t kFrontMax = 4096;
inline constexpr unsigned kFrontClasses = 40;  // jemalloc 5.3 has 29 classes up to 4 KiB
inline constexpr unsigned kFrontSlots = 64;    // most blocks a stack holds
/** Most tiers a thread serves through Fronts; further ones take the explicit-tcache path. */
inline constexpr unsigned kMaxFronts = 8;
/** Bytes of blocks a stack holds at most (fewer blocks for the larger classes). */
inline constexpr std::size_t kFrontStackBytes = 32 << 10;

struct FrontStack {
  std::uint32_t count = 0;
  std::uint32_t cap = 0;  // 0: the class is not cached (set from the class table)
  std::uint64_t size = 0;  // the class's size: every block here is that usable size
  /**
   * Blocks of the tier's own arena (not the front arena) that flushes gave back through the
   * tier's tcache and that refills have not taken again yet: the next refills take as many
   * from there first, so that memory one arena freed is reused rather than the front arena
   * growing beside it (see front_refill).
   */
  std::uint32_t owed = 0;
  void *items[kFrontSlots];
};
struct Front {
  FrontStack stacks[kFrontClasses];
};

/** Class index of a request of n bytes, n in [1, kFrontMax]: g_front_class[(n + 7) >> 3]. */
extern std::uint8_t g_front_class[(kFrontMax >> 3) + 1];
/** Largest request the Fronts serve: 0 until the class table is read (heap open). */
extern std::size_t g_front_max;

/** A thread's Fronts by slot, allocated with its first Front (DRAM, like the Fronts). */
struct FrontTable {
  Front *by_slot[kMaxSlots] = {};
  unsigned count = 0;
};
/**
 * One pointer of static TLS, not a Front pointer per slot: a libtiermem.so loaded by dlopen
 * lives in glibc's static TLS surplus, which the 64 slots' pointers would overflow (see the
 * heap.dlopen_works_with_optional_static_tls_4096 test).
 */
extern constinit thread_local FrontTable *t_fronts [[gnu::tls_model("initial-exec")]];

/**
 * Freeing into a Front needs the block's class. jemalloc's size lookup (sallocx) took 3.5 ns
 * of a second tier's 9.8 ns malloc+free, the whole gap to the first tier's 7.3. So each tier
 * has a second arena, its *front arena*, that only Front refills allocate from (with no
 * tcache, so no cache ever hands its blocks out to anyone else first), and one byte per page
 * of the tier: 1 + the class of the blocks starting on that page, written by the refill for
 * each block it takes. The byte is right for every live block of the front arena: a page
 * changes class only when its slab was emptied and jemalloc cuts a new slab there, and every
 * block of that new slab first leaves jemalloc through a refill, which writes the byte again.
 * Pages of the tier's other arena are never written (the backends never take memory back,
 * so a page stays with the arena it was carved for): 0, and a free there asks jemalloc.
 * A block of the front arena may still be cached and handed out by any tcache afterwards
 * (its slab lives as long as the block does), so the byte is all a free needs.
 * Indexed as g_front_pages[slot] + (address >> 12): the slot's map, biased by the tier's
 * first page. 0 for a slot without a tier.
 */
extern std::uintptr_t g_front_pages[kMaxSlots];
inline constexpr unsigned kFrontPageShift = 12;

[[gnu::always_inline]] inline std::atomic<std::uint8_t> *front_page_byte(unsigned slot,
                                                                         const void *p) noexcept {
  return reinterpret_cast<std::atomic<std::uint8_t> *>(
      g_front_pages[slot] + (reinterpret_cast<std::uintptr_t>(p) >> kFrontPageShift));
}
/** 1 + the Front class of the front-arena block `p` of `slot`, or 0 (ask jemalloc). */
[[gnu::always_inline]] inline unsigned front_class_of(unsigned slot, const void *p) noexcept {
  return front_page_byte(slot, p)->load(std::memory_order_relaxed);
}

/** Sets the byte front_class_of() reads for `p` (a block of `slot`'s front arena) to `c1`. */
inline void set_front_class(unsigned slot, const void *p, unsigned c1) noexcept {
  front_page_byte(slot, p)->store(static_cast<std::uint8_t>(c1), std::memory_order_relaxed);
}

/** This thread's Front for `slot`, or nullptr. */
[[gnu::always_inline]] inline Front *front_of(unsigned slot) noexcept {
  FrontTable *t = t_fronts;
  return __builtin_expect(t != nullptr, 1) ? t->by_slot[slot] : nullptr;
}

/**
 * Builds g_front_class from jemalloc's small classes (read_small_classes(), ascending) up to
 * kFrontMax (once, at heap open). Leaves the Fronts off when the table does not fit.
 */
void read_front_classes(const std::vector<std::size_t> &classes);

/**
 * The cold half of a Front allocation: creates the thread's Front for the tier (if it has
 * fewer than kMaxFronts) and refills the class's stack from the tier's front arena; then
 * pops. nullptr when the thread cannot have a Front for the tier or jemalloc has no memory
 * left on it: the caller takes the explicit path then (which reports a full tier).
 */
void *front_refill(tm_tier *tier, std::size_t n) noexcept;
/**
 * Maps `tier`'s page classes (one byte per page from its first byte to the slot's end,
 * MAP_NORESERVE: only pages of the map that a refill writes cost memory) and publishes them
 * in g_front_pages. Throws tiermem::Error when the map cannot be mapped.
 */
void map_front_pages(tm_tier &tier);
/**
 * Flushes half of `slot`'s full stack back to jemalloc (flags: the tier's, with its tcache),
 * counting in `owed` the blocks of the tier's own arena among them.
 */
void front_flush(unsigned slot, FrontStack &s, int flags) noexcept;
/** Gives every block the thread's Front for `slot` holds back to jemalloc through `flags`. */
void front_release(unsigned slot, int flags) noexcept;
/** Empties and frees this thread's Fronts (thread exit; `flags`: t_flags before clearing). */
void front_thread_exit(const int *flags) noexcept;

}  // namespace tiermem::heap

// The front cache: small blocks of every tier but a thread's first, at the speed of the first.
//
// A thread's first tier owns its automatic jemalloc tcache (tcache.cpp), so its small blocks
// take jemalloc's plain malloc/free fast path. Every further tier would need mallocx/dallocx
// with an explicit tcache, jemalloc's general path (about 2.5x the plain one). Instead each
// thread keeps, for up to kMaxFronts further tiers, a Front: per small size class (up to
// kFrontMax bytes) a stack of free blocks of that tier. tm_malloc pops, tm_free pushes; only
// an empty stack (refilled with half its capacity from jemalloc, through the tier's explicit
// tcache) or a full one (half flushed back the same way) reaches jemalloc. A stack holds
// blocks of one tier only, since each Front belongs to one slot.
//
// A block in a Front is free to tiermem and allocated to jemalloc, like a block in a jemalloc
// tcache: the tier's `allocated` statistic includes it, its peak (t_net) does not. The Fronts
// live in ordinary DRAM (the private jemalloc's arena 0), never in a tier. Tiers with a limit
// or a memory error (careful slots) bypass them: those frees must reach their bookkeeping.
// A thread's Fronts are flushed at its exit (tcache.cpp) and kept across fork by the forking
// thread; other threads' cached blocks are lost to the child, as their tcaches are.
#pragma once
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
 * fewer than kMaxFronts) and refills the class's stack; then pops. nullptr when the thread
 * cannot have a Front for the tier or jemalloc has no memory left on it: the caller takes the
 * explicit path then (which reports a full tier).
 */
void *front_refill(tm_tier *tier, std::size_t n, int flags) noexcept;
/** Flushes half of a full stack back to jemalloc (flags: the tier's, with its tcache). */
void front_flush(FrontStack &s, int flags) noexcept;
/** Gives every block the thread's Front for `slot` holds back to jemalloc through `flags`. */
void front_release(unsigned slot, int flags) noexcept;
/** Empties and frees this thread's Fronts (thread exit; `flags`: t_flags before clearing). */
void front_thread_exit(const int *flags) noexcept;

}  // namespace tiermem::heap

// The tiered heap: a jemalloc arena per tier (and a second one for the Front refills, see
// front.hpp), their pages from the tier's backend, in the tier's slot. The heap serves what
// the api layer hands it (a resolved topology::TierTarget); it never discovers the machine.
// Tiers are opened on first use (registry.cpp) and live until
// the process exits. The inline functions below are the hot path: a thread-local array gives
// the jemalloc flags (arena + this thread's tcache for the tier), then one jemalloc call,
// whose bytes a thread-local count keeps for the tier's peak (see t_net).
// One tcache per tier and thread matters: a jemalloc tcache caches regions of any arena, so a
// shared one would hand a region of one tier to a request for another (see tcache.cpp).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/backend.hpp"
#include "heap/extent_map.hpp"
#include "heap/front.hpp"
#include "heap/jemalloc.hpp"
#include "heap/slots.hpp"
#include "platform/raii.hpp"
#include "topology/spec.hpp"

/** A tier as the heap serves it (the C ABI's opaque `tm_tier`). Immortal once created. */
struct tm_tier {
  unsigned slot = 0;
  unsigned arena = 0;
  int arena_flags = 0;
  /** The arena only Front refills take blocks from, and their flags (see g_front_pages). */
  unsigned front_arena = 0;
  int front_flags = 0;
  /**
   * Set when the tier first gets a limit, never cleared: from then on every block is counted
   * in `live`, so a limit caps live bytes, not only what jemalloc keeps mapped for reuse.
   * Next to the fields the hot path reads already.
   */
  std::atomic<bool> counted{false};
  /**
   * Set when a memory error was reported in the tier's slot, never cleared: from then on the
   * tier's allocations and frees check for poison (api/heap_poison.hpp); other tiers do not.
   */
  std::atomic<bool> poisoned{false};
  std::atomic<std::size_t> live{0};  ///< usable bytes of live blocks, while counted
  std::string name;        ///< canonical spec: "node:0", "rank:0", "dax:dax0.0", "emulated:slow"
  std::string kind;        ///< the topology tier's kind, or "emulated"
  int rank = -1;           ///< topology rank, -1 when the tier is not a whole topology tier
  std::unique_ptr<tiermem::backend::Backend> backend;
  std::atomic<std::uint64_t> failures{0};
  std::atomic<std::uint64_t> fallbacks{0};
  /**
   * Usable bytes of live blocks as the threads have folded them in (see t_net): behind the
   * truth by what each thread holds unfolded, so it may dip below zero for a moment.
   */
  std::atomic<std::int64_t> folded_live{0};
  /** The highest `folded_live` (and `allocated` read by stats()) so far. */
  std::atomic<std::uint64_t> peak{0};
  /** One byte per page: the class of the front arena's blocks there (see g_front_pages). */
  tiermem::platform::Mapping front_pages;
  /** jemalloc's extents on this tier, for poison reports (see extent_map.hpp). */
  std::unique_ptr<tiermem::heap::ExtentMap> extents;
  /** Blocks kept out of jemalloc for good because they hold poison (see owner.hpp). */
  std::atomic<std::uint64_t> quarantined_bytes{0};
  std::atomic<std::uint64_t> quarantined_blocks{0};
  /** Bytes of poisoned pages replaced by fresh zeroed ones (repair mode, node tiers). */
  std::atomic<std::uint64_t> repaired_bytes{0};
  /** Node tiers: the mbind mask a replaced page gets (async-signal-safe to use). */
  tiermem::platform::NodeMask node_mask;
  bool repairable = false;
};

namespace tiermem::heap {

/**
 * Per thread, per slot: the mallocx flags for that tier; 0 until first use on the thread
 * (so a non-zero entry also proves the slot holds a tier). constinit: no TLS init wrapper.
 * initial-exec: no __tls_get_addr call in libtiermem.so; it costs dlopen nothing more, since
 * the private jemalloc's own initial-exec TLS already needs static TLS (see README).
 */
extern constinit thread_local int t_flags[kMaxSlots] [[gnu::tls_model("initial-exec")]];
/**
 * 1 + the slot of the tier that owns this thread's automatic tcache and to which the thread's
 * jemalloc arena is bound (`thread.arena`); 0 for none. For that tier a small request is a
 * plain tmje_malloc and a free a plain tmje_free: jemalloc's fast paths, which its
 * mallocx/dallocx (any flags) do not take.
 */
extern constinit thread_local unsigned t_bound [[gnu::tls_model("initial-exec")]];
/** A thread's first use of `tier` that is not a small allocation: an explicit tcache. */
int thread_flags_slow(tm_tier *tier) noexcept;
/**
 * The flags for a small allocation on `tier` (cold paths only): the first one on a thread
 * makes `tier` the thread's bound tier (see tcache.cpp).
 */
int small_flags(tm_tier *tier) noexcept;

inline int thread_flags(tm_tier *tier) noexcept {
  int f = t_flags[tier->slot];
  return __builtin_expect(f != 0, 1) ? f : thread_flags_slow(tier);
}

/**
 * The true peak of a tier without a counter shared by every malloc. jemalloc already adds each
 * block's usable size to per-thread totals (`thread.allocatedp`, `thread.deallocatedp`) on its
 * fast paths. A thread keeps its per-tier net change in plain TLS (t_net) and folds it into
 * the tier's shared `folded_live` only after it has moved by kFoldStep, raising `peak` then:
 * one atomic add per 64 KiB, and a peak short of the truth by at most 64 KiB a thread (and a
 * block). Summing the threads' nets, not their own high-water marks, keeps a block freed by
 * another thread than its allocator's from inflating the peak.
 *
 * Two ways to learn a call's bytes:
 * - *Noted* calls (every jemalloc call but two) read the total before and after, so the
 *   difference is that call's bytes, for the slot it served; the difference also goes to
 *   t_je_other.
 * - The *automatic* tier's plain tmje_malloc / tmje_free (the thread's bound tier, jemalloc's
 *   fastest path) note nothing: reading the total after jemalloc has just written it cost
 *   2.5-4.5 ns of a 15-19 ns malloc+free under the preload library. That tier's net is what
 *   the totals moved by and the noted calls did not: (allocated - deallocated - t_je_other)
 *   since its last sync (sync_automatic). A sync happens when either total has moved by
 *   kFoldStep since the last (one compare before each plain call), at statistics reads and at
 *   thread exit, so the tier's unfolded bytes stay within the same 64 KiB: its net cannot rise
 *   by 64 KiB without `allocated` rising as much, nor fall without `deallocated`.
 * So every jemalloc call of the heap is either one of those two plain calls on the
 * automatic tier or noted (je_other() for those that serve no slot: Front refills and
 * flushes, the heap's own metadata).
 *
 * Until a thread has used a tier, the pointers name a zero, so a read before the thread's
 * first thread_flags_slow() yields no bytes rather than a null dereference.
 */
extern constinit thread_local const std::uint64_t *t_je_allocated [[gnu::tls_model("initial-exec")]];
extern constinit thread_local const std::uint64_t *t_je_deallocated [[gnu::tls_model("initial-exec")]];
extern constinit thread_local std::int64_t t_net[kMaxSlots] [[gnu::tls_model("initial-exec")]];
/** Net bytes of the thread's noted jemalloc calls, all slots and none, since its totals bound. */
extern constinit thread_local std::int64_t t_je_other [[gnu::tls_model("initial-exec")]];
/**
 * The totals at which the automatic tier's next sync is due (UINT64_MAX while the thread has
 * no automatic tier, so that the compares never fire).
 */
extern constinit thread_local std::uint64_t t_sync_allocated [[gnu::tls_model("initial-exec")]];
extern constinit thread_local std::uint64_t t_sync_deallocated [[gnu::tls_model("initial-exec")]];
inline constexpr std::int64_t kFoldStep = 64 << 10;
/** Adds this thread's net change on `slot` to the tier, raising its peak (cold). */
void fold_net(unsigned slot) noexcept;
/** fold_net(slot), then `p` (a block: never null): for a fold that ends an allocation. */
[[gnu::noinline, gnu::returns_nonnull]] void *fold_net_returning(unsigned slot, void *p) noexcept;
/** fold_net() for every slot this thread has bytes on (thread exit, statistics reads). */
void fold_thread_nets() noexcept;
/** Makes `slot` the thread's automatic tier for the byte counting (see above). */
void start_automatic(unsigned slot) noexcept;
/** The thread has no automatic tier from now on (its t_net synced first). */
void stop_automatic() noexcept;
/** Brings the automatic tier's t_net up to date with the totals. */
void sync_automatic() noexcept;
/** The sync due before a plain call, and the fold of what it found (cold). */
void sync_and_fold_automatic() noexcept;

/** Points t_je_allocated / t_je_deallocated at jemalloc's totals for this thread (once). */
void bind_thread_totals() noexcept;
/** Raises the tier's peak to `bytes` if that is higher. */
void raise_peak(tm_tier *tier, std::uint64_t bytes) noexcept;

/** Adds `bytes` to the thread's net on `slot`; true when a fold is due (fold_net). */
[[gnu::always_inline]] inline bool add_net_fold_due(unsigned slot, std::uint64_t bytes) noexcept {
  return (t_net[slot] += static_cast<std::int64_t>(bytes)) >= kFoldStep;
}
[[gnu::always_inline]] inline void note_allocated(unsigned slot, std::uint64_t bytes) noexcept {
  if (__builtin_expect(add_net_fold_due(slot, bytes), 0)) fold_net(slot);
}
[[gnu::always_inline]] inline void note_freed(unsigned slot, std::uint64_t bytes) noexcept {
  std::int64_t net = t_net[slot] -= static_cast<std::int64_t>(bytes);
  if (__builtin_expect(net <= -kFoldStep, 0)) fold_net(slot);
}

/**
 * Runs `call`, jemalloc calls that serve no slot (a Front's refill or flush, the heap's own
 * metadata), and keeps their bytes out of the automatic tier's count.
 */
template <class Call>
[[gnu::always_inline]] inline void je_other(Call call) noexcept {
  const std::uint64_t got = *t_je_allocated, gone = *t_je_deallocated;
  call();
  t_je_other += static_cast<std::int64_t>(*t_je_allocated - got) -
                static_cast<std::int64_t>(*t_je_deallocated - gone);
}

/**
 * A request the tier's own arena could not serve (`flags` name it), served by its front arena
 * (front.hpp), noted for `slot`; nullptr when that has no room either. The two arenas share
 * the tier's memory but not what each keeps for reuse: memory freed in one stays with it, so
 * without this a tier with room in its front arena would report itself full.
 */
[[gnu::noinline]] void *mallocx_front_arena(unsigned slot, std::size_t n, int flags) noexcept;
/** The same for a resize; p is untouched when it returns nullptr. */
[[gnu::noinline]] void *rallocx_front_arena(unsigned slot, void *p, std::size_t n,
                                            int flags) noexcept;

/** tmje_mallocx with its bytes noted for `slot` (`flags` name the tier's arena). */
[[gnu::always_inline]] inline void *mallocx_noted(unsigned slot, std::size_t n, int flags) noexcept {
  const std::uint64_t *total = t_je_allocated;
  std::uint64_t before = *total;
  void *p = tmje_mallocx(n, flags);
  if (__builtin_expect(p == nullptr, 0)) return mallocx_front_arena(slot, n, flags);
  const std::uint64_t bytes = *total - before;
  t_je_other += static_cast<std::int64_t>(bytes);
  note_allocated(slot, bytes);
  return p;
}

/** Requests above this are jemalloc "large" blocks, each an extent of its own. */
extern std::size_t g_small_max;
inline constexpr int kLgAlignMask = 0x3f;
inline constexpr int kLgPage = 12;
/**
 * Large blocks are asked for page-aligned: jemalloc then places the block at its extent's
 * start (otherwise at a random cache-line offset in the first page), so a poison report can
 * name the block from the extent map alone.
 */
inline int block_flags(std::size_t n, int extra_flags) noexcept {
  if (__builtin_expect(n > g_small_max, 0) && (extra_flags & kLgAlignMask) < kLgPage) {
    return (extra_flags & ~kLgAlignMask) | kLgPage;
  }
  return extra_flags;
}

/** A block of `n` bytes (n <= g_front_max) from this thread's Front for `slot`, or nullptr. */
[[gnu::always_inline]] inline void *front_pop(unsigned slot, std::size_t n) noexcept {
  Front *f = front_of(slot);
  if (__builtin_expect(f == nullptr, 0)) return nullptr;
  FrontStack &s = f->stacks[g_front_class[(n + 7) >> 3]];
  if (__builtin_expect(s.count == 0, 0)) return nullptr;
  void *p = s.items[--s.count];
  // note_allocated() with its fold as the last act (a jump), so that a caller keeping no
  // frame keeps none for it.
  if (__builtin_expect(add_net_fold_due(slot, s.size), 0)) return fold_net_returning(slot, p);
  return p;
}

/**
 * Runs `free_call` (one jemalloc free) and notes for `slot` the bytes jemalloc counted as
 * freed by it: the shape of every free on the hot path (see t_net).
 */
template <class FreeCall>
[[gnu::always_inline]] inline void freed_noted(unsigned slot, FreeCall free_call) noexcept {
  const std::uint64_t *total = t_je_deallocated;
  std::uint64_t before = *total;
  free_call();
  const std::uint64_t bytes = *total - before;
  t_je_other -= static_cast<std::int64_t>(bytes);
  note_freed(slot, bytes);
}

/** jemalloc's sized free, with the bytes noted for `slot` (flags name the tier's tcache). */
[[gnu::always_inline]] inline void sdallocx_noted(unsigned slot, void *p, std::size_t size,
                                                  int flags) noexcept {
  freed_noted(slot, [=]() __attribute__((always_inline)) { tmje_sdallocx(p, size, flags); });
}

/**
 * Allocation on a tier that is not the thread's bound one: its Front first, then a refill,
 * then jemalloc's explicit path. Out of line only for what the Front cannot answer.
 */
[[gnu::noinline]] void *allocate_front_miss(tm_tier *tier, std::size_t n) noexcept;

/**
 * Cold path of allocate(): the thread lost its arena binding (jemalloc served the plain call
 * from another arena, `p`, or failed); `p` goes back and the request is served explicitly.
 */
void *allocate_rebinding(tm_tier *tier, void *p, std::size_t n) noexcept;

/**
 * One bit per slot whose frees must find their tier: it has a limit (limit.cpp counts the
 * bytes) or may hold poison (the api checks each block). Frees on other slots skip both.
 */
extern std::atomic<std::uint64_t> g_careful_slots;
inline bool careful(unsigned slot) noexcept {
  return (g_careful_slots.load(std::memory_order_relaxed) >> slot) & 1;
}
/** Marks `tier` as holding poison (see tm_tier::poisoned). Async-signal-safe. */
inline void mark_poisoned(tm_tier *tier) noexcept {
  tier->poisoned.store(true, std::memory_order_relaxed);
  g_careful_slots.fetch_or(std::uint64_t{1} << tier->slot, std::memory_order_relaxed);
}
/** allocate(), reallocate() and release() of a tier with a limit (limit.cpp). */
void *allocate_counted(tm_tier *tier, std::size_t n, int extra_flags) noexcept;
void *reallocate_counted(tm_tier *tier, void *p, std::size_t n) noexcept;
void uncount(tm_tier *tier, const void *p) noexcept;
/**
 * Caps the tier at `bytes` (SIZE_MAX: no cap) of live blocks and of memory taken from its
 * backend; 0 makes every further allocation on it fail.
 */
void set_limit(tm_tier *tier, std::size_t bytes);

/** Which fast case a request of `n` bytes with no flags on an uncounted tier takes. */
enum class SmallCase {
  bound,  ///< 1 <= n <= g_small_max on the thread's bound tier: allocate_bound()
  front,  ///< n <= g_front_max on another tier: the thread's Front for it (front_pop)
  other,  ///< neither (n == 0 too): the explicit path
};
[[gnu::always_inline]] inline SmallCase small_case(const tm_tier *tier, std::size_t n) noexcept {
  if (__builtin_expect(n - 1 >= g_small_max, 0)) return SmallCase::other;
  if (t_bound == tier->slot + 1) return SmallCase::bound;
  return n <= g_front_max ? SmallCase::front : SmallCase::other;
}

/**
 * allocate() of a small block (n <= g_small_max) on the thread's bound tier: jemalloc's
 * plain malloc. The tier must not be counted (no limit).
 */
[[gnu::always_inline]] inline void *allocate_bound(tm_tier *tier, std::size_t n) noexcept {
  // One of the two plain calls (see t_je_other): its bytes are the automatic tier's.
  if (__builtin_expect(*t_je_allocated >= t_sync_allocated, 0)) sync_and_fold_automatic();
  // The arena binding is jemalloc's state, not ours: check where the block landed (a
  // subtraction and a compare) rather than trust it, so nothing ever lands off the tier.
  void *p = tmje_malloc(n);
  unsigned s = 0;
  if (__builtin_expect(slot_of(p, s) && s == tier->slot, 1)) return p;
  // The block goes back through the other plain call's counterpart, unnoted: the two
  // cancel out in the automatic tier's count.
  return allocate_rebinding(tier, p, n);
}

/**
 * n must be > 0. nullptr when the tier is full (see note_failure). Always inline: with the
 * byte counting, GCC's heuristics began to call it out of line from tm_malloc, an extra call
 * and frame on the fastest path.
 */
[[gnu::always_inline]] inline void *allocate(tm_tier *tier, std::size_t n, int extra_flags = 0) noexcept {
  if (__builtin_expect(tier->counted.load(std::memory_order_relaxed), 0)) {
    return allocate_counted(tier, n, extra_flags);
  }
  if (__builtin_expect(extra_flags == 0, 1)) {
    switch (small_case(tier, n)) {
      case SmallCase::bound:
        return allocate_bound(tier, n);
      case SmallCase::front:
        if (void *p = front_pop(tier->slot, n)) return p;
        return allocate_front_miss(tier, n);
      case SmallCase::other:
        break;
    }
  }
  // The flags first: a thread's first call on the tier binds it to jemalloc's totals.
  int flags = thread_flags(tier) | block_flags(n, extra_flags);
  return mallocx_noted(tier->slot, n, flags);
}
/**
 * Frees p, which lies in `slot`, with the flags of that tier on this thread (`flags`,
 * non-zero: the thread has used the tier): plain free for the bound tier.
 */
[[gnu::always_inline]] inline void release_with(unsigned slot, void *p, int flags) noexcept {
  if (je::automatic_tcache(flags)) {
    // The other plain call (see t_je_other): only the automatic tier's flags name no tcache.
    if (__builtin_expect(*t_je_deallocated >= t_sync_deallocated, 0)) sync_and_fold_automatic();
    tmje_free(p);
    return;
  }
  freed_noted(slot, [=]() __attribute__((always_inline)) { tmje_dallocx(p, flags); });
}
/**
 * release_with() for the frees of the fast slots (`flags` non-zero, slot not careful), out of
 * line (front.cpp) so that the front ends jump to it: the bound tier's plain free (when its
 * sync is due), else a push on the thread's Front for the slot (the class from the block's
 * page for a front-arena block, else from jemalloc's size lookup), else the tier's explicit
 * tcache.
 */
void release_fast(unsigned slot, void *p, int flags) noexcept;
/** p must belong to `tier`. */
inline void release(tm_tier *tier, void *p) noexcept {
  if (__builtin_expect(tier->counted.load(std::memory_order_relaxed), 0)) uncount(tier, p);
  release_with(tier->slot, p, thread_flags(tier));
}
/** tmje_rallocx with the net change noted for `slot` (both totals: it frees and allocates). */
inline void *rallocx_noted(unsigned slot, void *p, std::size_t n, int flags) noexcept {
  const std::uint64_t *got = t_je_allocated, *gone = t_je_deallocated;
  std::uint64_t got0 = *got, gone0 = *gone;
  void *q = tmje_rallocx(p, n, flags);
  if (__builtin_expect(q == nullptr, 0)) return rallocx_front_arena(slot, p, n, flags);
  std::uint64_t up = *got - got0, down = *gone - gone0;
  t_je_other += static_cast<std::int64_t>(up) - static_cast<std::int64_t>(down);
  if (up >= down) {
    note_allocated(slot, up - down);
  } else {
    note_freed(slot, down - up);
  }
  return q;
}
/** n must be > 0; the result stays on `tier`. */
inline void *reallocate(tm_tier *tier, void *p, std::size_t n) noexcept {
  if (__builtin_expect(tier->counted.load(std::memory_order_relaxed), 0)) {
    return reallocate_counted(tier, p, n);
  }
  return rallocx_noted(tier->slot, p, n, thread_flags(tier) | block_flags(n, 0));
}
inline std::size_t usable_size(const void *p) noexcept { return tmje_sallocx(p, 0); }

/**
 * Where the heap learns a dax device's known bad ranges (device offsets) when it opens one:
 * set by the api layer, which reads them (safety/badblocks.hpp); none known while unset.
 */
using BadRangeSource = std::vector<platform::ByteRange> (*)(const std::string &dax_path);
void set_bad_range_source(BadRangeSource source) noexcept;

/**
 * Opens the heap once: fork handlers, jemalloc and the slots, sized for the largest tier the
 * machine has (bytes). Later calls do nothing. Throws tiermem::Error when the address space
 * cannot be reserved.
 */
void open(std::uint64_t largest_tier);
/**
 * The tier serving `target` (two targets with one key are one tier), opened on first use.
 * The heap must be open. Throws tiermem::Error.
 */
tm_tier *open_tier(const topology::TierTarget &target);
/**
 * How long freed pages of tiers opened later stay resident (ms; 0 at once, -1 never, at most
 * kMaxDecayMs). Throws tiermem::Error (-EINVAL) for a value out of range.
 */
void set_default_decay_ms(long ms);
/** Whether set_default_decay_ms() was called (the program's choice beats TIERMEM_DECAY_MS). */
bool default_decay_chosen() noexcept;
/** The same for one open tier, from now on (jemalloc's arena.<i>.dirty_decay_ms). Throws. */
void set_decay_ms(tm_tier *tier, long ms);
/** The tier's decay time now (ms, -1 never). */
long decay_ms(const tm_tier *tier);
/**
 * Gives back now what the tier's decay time says is due (`all` false), or every freed page
 * (`all` true): jemalloc's arena.<i>.decay / arena.<i>.purge. Freed pages reach the backend's
 * purge (node: MADV_DONTNEED; emulated: a hole punched in the memfd; devdax: none, the pages
 * stay the tier's, retained for reuse by the arena).
 */
void decay_now(tm_tier *tier, bool all);
/** The tiers opened so far, in slot order. */
std::vector<tm_tier *> active_tiers();

struct Stats {
  std::uint64_t capacity = 0, limit = UINT64_MAX, mapped = 0, allocated = 0, peak = 0;
  std::uint64_t failures = 0, fallbacks = 0;
  std::uint64_t quarantined = 0, quarantined_blocks = 0, repaired = 0;
};
Stats stats(tm_tier *tier);
/** Counts a request `tier` could not serve (cheap: no message, no statistics read). */
inline void count_failure(tm_tier *tier) noexcept {
  tier->failures.fetch_add(1, std::memory_order_relaxed);
}
/**
 * Writes the one-line message for a failed `n`-byte request on `tier` (why, and what to do)
 * into `out` (truncated to `cap`). Allocates nothing: the failure path must not ask the
 * allocator that just failed for memory (under the preload library that allocator is malloc
 * itself, and building the message with it recursed until the stack overflowed).
 */
void failure_message(tm_tier *tier, std::size_t n, char *out, std::size_t cap) noexcept;

/** Counts and reports (stderr, first few) a pointer tiermem never gave out. */
void report_foreign(const void *p, const char *call) noexcept;
std::uint64_t foreign_count() noexcept;

}  // namespace tiermem::heap

// Tier limits. A limit caps two things: the memory the tier's backend hands to jemalloc (the
// backend refuses extents past it), and the bytes of live blocks. The second is what a user
// means by "at most 1M on this tier": jemalloc keeps freed memory and reuses it without
// asking the backend again, so a cap on mapped memory alone let a tier limited to 0 keep
// serving blocks. Live bytes are counted only on tiers that have had a limit, so tiers
// without one keep the hot path of heap.hpp untouched but for one flag test.
#include <atomic>
#include <cstddef>

#include "heap/heap.hpp"

namespace tiermem::heap {

std::atomic<std::uint64_t> g_careful_slots{0};

namespace {

// Takes `bytes` from the tier's allowance; false (nothing taken) when that would pass it.
bool reserve(tm_tier *tier, std::size_t bytes) noexcept {
  std::size_t limit = tier->backend->limit();
  std::size_t cur = tier->live.load(std::memory_order_relaxed);
  do {
    if (bytes > limit || cur > limit - bytes) return false;
  } while (!tier->live.compare_exchange_weak(cur, cur + bytes, std::memory_order_relaxed));
  return true;
}

// Saturating: blocks that were live before counting began are freed uncounted-for.
void give_back(tm_tier *tier, std::size_t bytes) noexcept {
  std::size_t cur = tier->live.load(std::memory_order_relaxed);
  while (!tier->live.compare_exchange_weak(cur, cur > bytes ? cur - bytes : 0,
                                            std::memory_order_relaxed)) {
  }
}

}  // namespace

void *allocate_counted(tm_tier *tier, std::size_t n, int extra_flags) noexcept {
  const bool small = n <= g_front_max && extra_flags == 0;
  int flags = (small ? small_flags(tier) : thread_flags(tier)) | block_flags(n, extra_flags);
  // Reserve before allocating: a request past the limit must not take an extent first.
  std::size_t usable = tmje_nallocx(n, flags);
  if (usable == 0 || !reserve(tier, usable)) return nullptr;
  void *p = mallocx_noted(tier->slot, n, flags);
  if (p == nullptr) give_back(tier, usable);
  return p;
}

void *reallocate_counted(tm_tier *tier, void *p, std::size_t n) noexcept {
  int flags = thread_flags(tier) | block_flags(n, 0);
  std::size_t old = usable_size(p);
  std::size_t want = tmje_nallocx(n, flags);
  if (want == 0) return nullptr;
  std::size_t grow = want > old ? want - old : 0;
  if (grow != 0 && !reserve(tier, grow)) return nullptr;
  void *q = rallocx_noted(tier->slot, p, n, flags);
  if (q == nullptr) {
    give_back(tier, grow);
    return nullptr;
  }
  // In place, jemalloc may keep a size class other than the one nallocx named.
  std::size_t got = usable_size(q);
  if (got > old + grow) {
    tier->live.fetch_add(got - old - grow, std::memory_order_relaxed);
  } else if (got < old + grow) {
    give_back(tier, old + grow - got);
  }
  return q;
}

void uncount(tm_tier *tier, const void *p) noexcept { give_back(tier, usable_size(p)); }

void set_limit(tm_tier *tier, std::size_t bytes) {
  if (!tier->counted.exchange(true, std::memory_order_acq_rel)) {
    // Counting starts from what jemalloc reports live now (blocks cached by threads
    // included, so an estimate on the safe side). Set before the read, so a block
    // allocated meanwhile is counted at most twice, never missed.
    g_careful_slots.fetch_or(std::uint64_t{1} << tier->slot, std::memory_order_release);
    tier->live.fetch_add(stats(tier).allocated, std::memory_order_relaxed);
  }
  tier->backend->set_limit(bytes);
}

}  // namespace tiermem::heap

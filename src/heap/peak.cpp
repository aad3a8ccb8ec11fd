// A tier's true peak (see heap.hpp, t_net): the per-thread side of the fold, and the
// thread's binding to jemalloc's byte totals.
#include <cstdint>

#include "heap/heap.hpp"
#include "heap/publish.hpp"

namespace tiermem::heap {

namespace {
constexpr std::uint64_t kNoBytes = 0;
}  // namespace

constinit thread_local const std::uint64_t *t_je_allocated [[gnu::tls_model("initial-exec")]] = &kNoBytes;
constinit thread_local const std::uint64_t *t_je_deallocated [[gnu::tls_model("initial-exec")]] = &kNoBytes;
constinit thread_local std::int64_t t_net[kMaxSlots] [[gnu::tls_model("initial-exec")]] = {};
constinit thread_local std::int64_t t_je_other [[gnu::tls_model("initial-exec")]] = 0;
constinit thread_local std::uint64_t t_sync_allocated [[gnu::tls_model("initial-exec")]] = UINT64_MAX;
constinit thread_local std::uint64_t t_sync_deallocated [[gnu::tls_model("initial-exec")]] = UINT64_MAX;

namespace {
// 1 + the slot of the thread's automatic tier (0: none), and its count at the last sync:
// allocated - deallocated - t_je_other.
constinit thread_local unsigned t_automatic [[gnu::tls_model("initial-exec")]] = 0;
constinit thread_local std::int64_t t_automatic_mark [[gnu::tls_model("initial-exec")]] = 0;

std::int64_t automatic_count(std::uint64_t got, std::uint64_t gone) noexcept {
  return static_cast<std::int64_t>(got - gone) - t_je_other;
}

void arm_sync(std::uint64_t got, std::uint64_t gone) noexcept {
  t_sync_allocated = got + kFoldStep;
  t_sync_deallocated = gone + kFoldStep;
}
}  // namespace

void bind_thread_totals() noexcept {
  if (t_je_allocated != &kNoBytes) return;
  std::uint64_t *got = nullptr, *gone = nullptr;
  std::size_t sz = sizeof got;
  if (tmje_mallctl("thread.allocatedp", &got, &sz, nullptr, 0) != 0 || got == nullptr) return;
  sz = sizeof gone;
  if (tmje_mallctl("thread.deallocatedp", &gone, &sz, nullptr, 0) != 0 || gone == nullptr) return;
  // Both or neither: counting only one side would make the net drift without bound.
  t_je_allocated = got;
  t_je_deallocated = gone;
}

void raise_peak(tm_tier *tier, std::uint64_t bytes) noexcept {
  std::uint64_t peak = tier->peak.load(std::memory_order_relaxed);
  while (bytes > peak &&
         !tier->peak.compare_exchange_weak(peak, bytes, std::memory_order_relaxed)) {
  }
}

void fold_net(unsigned slot) noexcept {
  std::int64_t net = t_net[slot];
  t_net[slot] = 0;
  // Non-null: the thread has bytes on the slot, so it has used the tier there.
  tm_tier *tier = g_slots.tier[slot].load(std::memory_order_acquire);
  if (tier == nullptr) return;
  std::int64_t live = tier->folded_live.fetch_add(net, std::memory_order_relaxed) + net;
  if (net > 0 && live > 0) raise_peak(tier, static_cast<std::uint64_t>(live));
  // For `tiermem stat`: a few stores into the published page, at this fold only.
  publish_counters(slot, {tier->folded_live.load(std::memory_order_relaxed),
                          tier->peak.load(std::memory_order_relaxed), tier->backend->mapped(),
                          tier->failures.load(std::memory_order_relaxed),
                          tier->fallbacks.load(std::memory_order_relaxed)});
}

void *fold_net_returning(unsigned slot, void *p) noexcept {
  fold_net(slot);
  return p;
}

void start_automatic(unsigned slot) noexcept {
  sync_automatic();  // a thread has one automatic tier; nothing of an earlier one is lost
  const std::uint64_t got = *t_je_allocated, gone = *t_je_deallocated;
  t_automatic = slot + 1;
  t_automatic_mark = automatic_count(got, gone);
  arm_sync(got, gone);
}

void sync_automatic() noexcept {
  if (t_automatic == 0) return;
  const std::uint64_t got = *t_je_allocated, gone = *t_je_deallocated;
  const std::int64_t now = automatic_count(got, gone);
  t_net[t_automatic - 1] += now - t_automatic_mark;
  t_automatic_mark = now;
  arm_sync(got, gone);
}

void stop_automatic() noexcept {
  sync_automatic();
  t_automatic = 0;
  t_sync_allocated = t_sync_deallocated = UINT64_MAX;
}

void sync_and_fold_automatic() noexcept {
  const bool allocating = *t_je_allocated >= t_sync_allocated;
  sync_automatic();
  // Folded at every sync, not only past kFoldStep: a sync comes after 64 KiB of either
  // total, so what stays unfolded is within 64 KiB (and the block in flight).
  if (t_automatic != 0 && t_net[t_automatic - 1] != 0) fold_net(t_automatic - 1);
  // After 64 KiB of allocations, the thread's next free syncs too: a thread that has grown
  // and starts freeing is at its high, and the peak gets it whole, not 64 KiB short.
  if (allocating) t_sync_deallocated = *t_je_deallocated;
}

void fold_thread_nets() noexcept {
  sync_automatic();
  for (unsigned i = 0; i < kMaxSlots; ++i) {
    if (t_net[i] != 0) fold_net(i);
  }
}

}  // namespace tiermem::heap

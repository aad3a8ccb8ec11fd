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

void fold_thread_nets() noexcept {
  for (unsigned i = 0; i < kMaxSlots; ++i) {
    if (t_net[i] != 0) fold_net(i);
  }
}

}  // namespace tiermem::heap

// Which machine-check-safe copy routine tm_copy_mc() takes (copy_mc.hpp): cpuid's word, then
// copies timed once, when first needed. Apart from copy_mc.cpp, whose code runs in the SIGBUS
// handler: this maps a buffer and reads the clock (lock-free, no allocation).
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>

#if defined(__x86_64__)
#include <sys/platform/x86.h>
#endif

#include "safety/copy_mc.hpp"

namespace tiermem::safety {

namespace {

#if defined(__x86_64__)
std::uint64_t now_ns() noexcept {
  timespec t{};
  ::clock_gettime(CLOCK_MONOTONIC, &t);
  return static_cast<std::uint64_t>(t.tv_sec) * 1000000000u + static_cast<std::uint64_t>(t.tv_nsec);
}

// Copies of the smallest size rep movsb serves (kMovsbFrom), alternating the two routines
// after one warm-up copy each, best of five: a few microseconds on hardware, about 0.2 ms
// under TCG. In a page of its own, unmapped after, so no memory stays behind.
CopyTiming measure_copies() noexcept {
  constexpr std::size_t n = kMovsbFrom;
  void *m = ::mmap(nullptr, 2 * n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return {};
  auto *src = static_cast<unsigned char *>(m);
  unsigned char *dst = src + n;
  std::memset(src, 0x5a, 2 * n);
  CopyTiming best{~std::uint64_t{0}, ~std::uint64_t{0}};
  for (int i = 0; i < 6; ++i) {
    std::uint64_t t0 = now_ns();
    tiermem_copy_mc_movsb(dst, src, n);
    std::uint64_t t1 = now_ns();
    tiermem_copy_mc_words(dst, src, n);
    std::uint64_t t2 = now_ns();
    if (i == 0) continue;  // the warm-up
    best.movsb_ns = std::min(best.movsb_ns, t1 - t0);
    best.words_ns = std::min(best.words_ns, t2 - t1);
  }
  ::munmap(m, 2 * n);
  return best;
}
#endif

std::atomic<std::uint64_t> g_movsb_ns{0}, g_words_ns{0};
std::atomic<int> g_timed{0};  // 0: not yet, 1: a thread is timing, 2: timed

// Times the two routines once; true when copy_timing() holds the figures.
bool timed() noexcept {
#if defined(__x86_64__)
  int state = g_timed.load(std::memory_order_acquire);
  if (state == 2) return true;
  if (state == 1 || !g_timed.compare_exchange_strong(state, 1, std::memory_order_acq_rel)) return false;
  const CopyTiming t = measure_copies();
  g_movsb_ns.store(t.movsb_ns, std::memory_order_relaxed);
  g_words_ns.store(t.words_ns, std::memory_order_relaxed);
  g_timed.store(2, std::memory_order_release);
  return true;
#else
  return false;
#endif
}

// The rule applied to the timed copies.
CopyRoutine timed_choice() noexcept {
  return movsb_is_slow(copy_timing()) ? CopyRoutine::word_loop : CopyRoutine::rep_movsb;
}

}  // namespace

CopyRoutine cpuid_copy_routine() noexcept {
  detail::have_avx2 = routine_available(CopyRoutine::avx2);
#if defined(__x86_64__)
  // Present is enough: fast rep movsb needs no OS support, unlike AVX2 (the YMM state).
  if (CPU_FEATURE_PRESENT(ERMS) || CPU_FEATURE_PRESENT(FSRM)) return CopyRoutine::rep_movsb;
  return CopyRoutine::word_loop;
#else
  return CopyRoutine::portable;
#endif
}

CopyRoutine detect_copy_routine() noexcept {
  const CopyRoutine r = cpuid_copy_routine();
  if (r != CopyRoutine::rep_movsb) return r;
  // Another thread timing right now: wait for its figures (a fraction of a millisecond).
  while (!timed()) {
#if defined(__x86_64__)
    __builtin_ia32_pause();
#endif
  }
  return timed_choice();
}

CopyTiming copy_timing() noexcept {
  if (g_timed.load(std::memory_order_acquire) != 2) return {};
  return {g_movsb_ns.load(std::memory_order_relaxed), g_words_ns.load(std::memory_order_relaxed)};
}

void set_detected_copy_routine(CopyRoutine r) noexcept {
  detail::active_routine.store(r, std::memory_order_relaxed);
  detail::routine_settled.store(r != CopyRoutine::rep_movsb, std::memory_order_release);
}

void settle_copy_routine() noexcept {
  if (detail::routine_settled.load(std::memory_order_acquire) || !timed()) return;
  if (active_copy_routine() == CopyRoutine::rep_movsb)
    detail::active_routine.store(timed_choice(), std::memory_order_relaxed);
  detail::routine_settled.store(true, std::memory_order_release);
}

std::size_t copy_movsb_unsettled(void *dst, const void *src, std::size_t n) noexcept {
  settle_copy_routine();
#if defined(__x86_64__)
  return tiermem_copy_mc_movsb(dst, src, n);  // this call asked for rep movsb; the next ones may not
#else
  return copy_portable(dst, src, n);
#endif
}

}  // namespace tiermem::safety

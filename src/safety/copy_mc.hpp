// The machine-check-safe copy routines and their selection. tm_copy_mc() picks one routine
// at init (cpuid); tests and benchmarks may name a routine to exercise every path on one
// machine.
#pragma once
#include <atomic>
#include <csetjmp>
#include <cstddef>
#include <cstdint>

#include "safety/poison_registry.hpp"

#if defined(__x86_64__)
extern "C" {
std::size_t tiermem_copy_mc_movsb(void *dst, const void *src, std::size_t n);
std::size_t tiermem_copy_mc_words(void *dst, const void *src, std::size_t n);
std::size_t tiermem_copy_mc_avx2(void *dst, const void *src, std::size_t n);
// The fix-up table: (faulting instruction, fix-up) pairs from the routines of
// copy_mc_x86_64.S and from every inline copy below, gathered by the linker into one section
// of the program or library that holds the SIGBUS handler.
extern const std::uintptr_t __start_tiermem_mc_extable[] __attribute__((visibility("hidden")));
extern const std::uintptr_t __stop_tiermem_mc_extable[] __attribute__((visibility("hidden")));
}
#endif

namespace tiermem::safety {

enum class CopyRoutine { rep_movsb, word_loop, avx2, portable };

/** Every routine, available here or not (see routine_available()). */
inline constexpr CopyRoutine all_copy_routines[] = {CopyRoutine::rep_movsb, CopyRoutine::word_loop,
                                                    CopyRoutine::avx2, CopyRoutine::portable};

/** What cpuid says: rep movsb where it is fast (ERMS or FSRM), else the word loop (x86-64). */
CopyRoutine cpuid_copy_routine() noexcept;

/**
 * The routine this CPU should use: cpuid's, but the word loop where rep movsb lost a timed
 * copy (see copy_timing()); portable off x86-64. Times the copies the first time it is asked.
 */
CopyRoutine detect_copy_routine() noexcept;

/**
 * What was measured to choose between rep movsb and the word loop: the best of five copies of
 * kMovsbFrom bytes with each, in ns (0 and 0 until then, and where cpuid already ruled rep
 * movsb out or TIERMEM_COPY_MC chose). cpuid reports ERMS under an emulator too (QEMU's TCG,
 * which the real-kernel tests use), where rep movsb is emulated a byte at a time: a 2 MiB copy
 * took 4.7-8.7 ms with it against 0.6 ms with the word loop.
 *
 * Measured when first needed, not at start-up (about 20 us here, 0.2 ms under TCG): by the
 * first copy that rep movsb would serve (kMovsbFrom bytes or more), or by
 * tm_copy_mc_routine(). A process that never copies that much never pays for it.
 */
struct CopyTiming {
  std::uint64_t movsb_ns = 0;
  std::uint64_t words_ns = 0;
};
CopyTiming copy_timing() noexcept;

/** The rule: rep movsb unless it took over twice the word loop's time. */
constexpr bool movsb_is_slow(CopyTiming t) noexcept { return t.movsb_ns > 2 * t.words_ns; }

/**
 * Times the two routines once (copy_timing()) and, if rep movsb lost while it is the routine
 * in use, makes the word loop the routine in use. Idempotent and lock-free; a thread that finds
 * another one timing goes on with the routine in use.
 */
void settle_copy_routine() noexcept;

namespace detail {
extern std::atomic<CopyRoutine> active_routine;
/** True once settle_copy_routine() ran, or nothing is left to settle (an explicit choice). */
extern std::atomic<bool> routine_settled;
}
/** The routine tm_copy_mc() uses; set when the handler is installed (and settled, above). */
inline CopyRoutine active_copy_routine() noexcept {
  return detail::active_routine.load(std::memory_order_relaxed);
}
/** Sets the routine in use as chosen: no timed copy will change it. */
void set_active_copy_routine(CopyRoutine r) noexcept;
/** Sets cpuid's routine, to be settled by the first large copy. */
void set_detected_copy_routine(CopyRoutine r) noexcept;
/** rep movsb's first copy of kMovsbFrom bytes or more: settles the routine, then copies. */
[[gnu::noinline, gnu::cold]] std::size_t copy_movsb_unsettled(void *dst, const void *src,
                                                             std::size_t n) noexcept;
const char *routine_name(CopyRoutine r) noexcept;
/** False for a routine this build or CPU cannot run (the x86-64 ones elsewhere). */
bool routine_available(CopyRoutine r) noexcept;

/** The memcpy-under-sigsetjmp routine (any architecture). */
std::size_t copy_portable(void *dst, const void *src, std::size_t n) noexcept;

// rep movsb starts slowly. On this project's AMD EPYC machine (bench_copy_mc, ratio to
// memcpy's bandwidth) it reached 0.2-0.45x from 8 B to 1 KiB and 0.63x at 2 KiB, where the
// word loop reached 0.3-0.75x below 256 B and the AVX2 loop 0.5-1.4x from 256 B to 4 KiB.
// So a CPU that cpuid sends to rep movsb copies short ranges with the others, as glibc's
// memcpy takes rep movsb only above a threshold too.
inline constexpr std::size_t kWordsBelow = 256;
inline constexpr std::size_t kMovsbFrom = 8192;
namespace detail {
/** Set by cpuid_copy_routine() (when the SIGBUS handler is installed); false before. */
extern bool have_avx2;
}

/** Copies with routine `r`, ignoring the poison registry. */
inline std::size_t copy_routine(CopyRoutine r, void *dst, const void *src, std::size_t n) noexcept {
  switch (r) {
#if defined(__x86_64__)
    case CopyRoutine::rep_movsb:
      if (n < kWordsBelow) return tiermem_copy_mc_words(dst, src, n);
      if (n < kMovsbFrom && detail::have_avx2) return tiermem_copy_mc_avx2(dst, src, n);
      if (!detail::routine_settled.load(std::memory_order_relaxed)) return copy_movsb_unsettled(dst, src, n);
      return tiermem_copy_mc_movsb(dst, src, n);
    case CopyRoutine::word_loop: return tiermem_copy_mc_words(dst, src, n);
    case CopyRoutine::avx2: return tiermem_copy_mc_avx2(dst, src, n);
#endif
    default: return copy_portable(dst, src, n);
  }
}

#if defined(__x86_64__)
namespace detail {
// Copies a T from src and a T from src + at to the same places of dst (overlapping when at <
// sizeof(T)); false when an access faulted: the SIGBUS handler moves RIP from the access to
// `fault`, with every register as the asm statement found it. Volatile in words: GCC 12
// deleted this asm goto, documented as implicitly volatile, when its outputs went unused.
template <class T>
[[gnu::always_inline]] inline bool move_two_mc(void *dst, const void *src, std::size_t at) noexcept {
  T a, b;
  asm volatile goto(
      "1: mov (%[s]), %[a]\n\t"
      "2: mov (%[s],%[at]), %[b]\n\t"
      "3: mov %[a], (%[d])\n\t"
      "4: mov %[b], (%[d],%[at])\n\t"
      ".pushsection tiermem_mc_extable, \"aw\"\n\t"
      ".balign 8\n\t"
      ".quad 1b, %l[fault], 2b, %l[fault], 3b, %l[fault], 4b, %l[fault]\n\t"
      ".popsection"
      : [a] "=&r"(a), [b] "=&r"(b)
      : [s] "r"(src), [d] "r"(dst), [at] "r"(at)
      : "memory"
      : fault);
  return true;
fault:
  return false;
}
}  // namespace detail
#endif

/** The longest copy copy_small_mc() takes. */
inline constexpr std::size_t kSmallCopy = 16;

/**
 * Copies n <= kSmallCopy bytes inline, without a call: two loads and two stores of the
 * widest size that fits (as memcpy does for short lengths). True when copied; false when an
 * access faulted (the bytes copied are then unknown: redo the copy with copy_mc_with() to
 * learn which side failed), when the poison registry holds any range (it must be consulted)
 * or on a platform without the inline copy. The handler must be installed.
 */
[[gnu::always_inline]] inline bool copy_small_mc(void *dst, const void *src, std::size_t n) noexcept {
#if defined(__x86_64__)
  if (poison_ever_recorded()) return false;
  if (n >= 8) return detail::move_two_mc<std::uint64_t>(dst, src, n - 8);
  if (n >= 4) return detail::move_two_mc<std::uint32_t>(dst, src, n - 4);
  if (n >= 2) return detail::move_two_mc<std::uint16_t>(dst, src, n - 2);
  if (n == 1) return detail::move_two_mc<std::uint8_t>(dst, src, 0);
  return true;
#else
  (void)dst, (void)src, (void)n;
  return false;
#endif
}

/** copy_mc_with() once the poison registry holds a range. */
std::size_t copy_mc_around_poison(CopyRoutine r, void *dst, const void *src,
                                  std::size_t n) noexcept;

/**
 * Copies with routine `r` (which must be available); returns the bytes not copied. Stops
 * without touching it at a unit the poison registry holds. The SIGBUS handler must be
 * installed (install_handler()) for faults to be recovered. Inline: until the first memory
 * error it is one relaxed load and the routine, which a copy of a few bytes (a buffer pool's
 * record read) notices.
 */
inline std::size_t copy_mc_with(CopyRoutine r, void *dst, const void *src, std::size_t n) noexcept {
  if (!poison_ever_recorded()) return copy_routine(r, dst, src, n);
  return copy_mc_around_poison(r, dst, src, n);
}

/**
 * The machine-check-safe copy as the C ABI's tm_copy_mc() offers it: installs the SIGBUS
 * handler on first use, then copy_mc_with() the active routine. Returns the bytes not copied.
 */
std::size_t copy_mc(void *dst, const void *src, std::size_t n) noexcept;
/** Reads [src, src + n) through a bounce buffer; returns the bytes not readable from the first bad one. */
std::size_t verify_mc(const void *src, std::size_t n) noexcept;
/**
 * Compares like memcmp, reading both sides machine-check-safe. Returns 0 with `*result`
 * (-1, 0, 1; may be null) set, or the bytes left from where a side could not be read.
 */
std::size_t memcmp_mc(const void *a, const void *b, std::size_t n, int *result) noexcept;

/**
 * The portable routine's state, reachable from the SIGBUS handler through one thread-local
 * pointer: the handler siglongjmp()s back when a fault address lies in either buffer.
 */
struct PortableFrame {
  sigjmp_buf env;
  std::uintptr_t src = 0, dst = 0;
  std::size_t n = 0;
  volatile std::uintptr_t fault = 0;  // written by the handler before siglongjmp
};

/** The calling thread's active portable frame, or null. Async-signal-safe. */
PortableFrame *current_portable_frame() noexcept;

}  // namespace tiermem::safety

    // rep movsb starts slowly: on this project's AMD EPYC machine copies of 8 to 256 bytes
    // ran at 0.2-0.3x memcpy's speed with it, 0.3-0.6x with the word loop (bench_copy_mc).
    // glibc's memcpy, too, takes rep movsb only above a threshold.
#include "safety/copy_mc.hpp"

#include <signal.h>

#include <atomic>
#include <cstring>

#if defined(__x86_64__)
#include <sys/platform/x86.h>
#endif

#include "safety/poison_registry.hpp"
#include "safety/sigbus.hpp"

namespace tiermem::safety {

namespace {

// Initial-exec: the handler reads this pointer, and only initial-exec TLS is guaranteed not
// to allocate on first access from a signal handler. One pointer fits the static TLS surplus
// glibc reserves for dlopen()ed libraries.
[[gnu::tls_model("initial-exec")]] thread_local PortableFrame *tls_frame = nullptr;

}  // namespace

std::size_t copy_portable(void *dst, const void *src, std::size_t n) noexcept {
  PortableFrame frame;
  frame.src = reinterpret_cast<std::uintptr_t>(src);
  frame.dst = reinterpret_cast<std::uintptr_t>(dst);
  frame.n = n;
  PortableFrame *outer = tls_frame;
  // Each fault lowers the limit to the faulting offset and the copy starts again below it,
  // so the first byte that fails bounds what is reported as copied, whatever order the
  // copy loop touches bytes in. Terminates: every fault strictly lowers the limit.
  volatile std::size_t limit = n;
  tls_frame = &frame;
  std::atomic_signal_fence(std::memory_order_seq_cst);
  if (sigsetjmp(frame.env, 0) != 0) {
    // We left the handler by siglongjmp without restoring its mask: unblock SIGBUS.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGBUS);
    pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
    std::uintptr_t a = frame.fault;
    std::size_t off;
    if (a - frame.src < n) {
      off = a - frame.src;
    } else {
      off = a - frame.dst;
    }
    limit = off < limit ? off : 0;
  }
  std::memcpy(dst, src, limit);
  std::atomic_signal_fence(std::memory_order_seq_cst);
  tls_frame = outer;
  return n - limit;
}

std::atomic<CopyRoutine> detail::active_routine{CopyRoutine::portable};
std::atomic<bool> detail::routine_settled{false};
bool detail::have_avx2 = false;

PortableFrame *current_portable_frame() noexcept { return tls_frame; }

namespace {
// glibc's own record of the CPU's features (read once by the dynamic loader): no cpuid here.
// In a virtual machine every cpuid is a VM exit; __builtin_cpu_supports' probe ran a dozen of
// them from a constructor in every process that loaded tiermem, and the direct cpuid calls
// that replaced it still cost 3% of a preloaded /bin/true.
bool avx2_usable() noexcept {
#if defined(__x86_64__)
  return CPU_FEATURE_ACTIVE(AVX2);
#else
  return false;
#endif
}
}  // namespace

void set_active_copy_routine(CopyRoutine r) noexcept {
  detail::active_routine.store(r, std::memory_order_relaxed);
  detail::routine_settled.store(true, std::memory_order_release);
}

const char *routine_name(CopyRoutine r) noexcept {
  switch (r) {
    case CopyRoutine::rep_movsb: return "rep-movsb";
    case CopyRoutine::word_loop: return "word-loop";
    case CopyRoutine::avx2: return "avx2";
    case CopyRoutine::portable: return "portable";
  }
  return "?";
}

bool routine_available(CopyRoutine r) noexcept {
#if defined(__x86_64__)
  if (r == CopyRoutine::avx2) return avx2_usable();
  return true;
#else
  return r == CopyRoutine::portable;
#endif
}


std::size_t copy_mc_around_poison(CopyRoutine r, void *dst, const void *src,
                                  std::size_t n) noexcept {
  // Known poison is not read (or written) again: consuming it costs another machine check,
  // and a device-dax page stays mapped after the kernel reported it. Stop at its start.
  const PoisonRegistry &reg = poison_registry();
  std::size_t limit = reg.first_poisoned(reinterpret_cast<std::uintptr_t>(src), n);
  if (limit != 0) {
    std::size_t d = reg.first_poisoned(reinterpret_cast<std::uintptr_t>(dst), limit);
    limit = d < limit ? d : limit;
  }
  return copy_routine(r, dst, src, limit) + (n - limit);
}

}  // namespace tiermem::safety

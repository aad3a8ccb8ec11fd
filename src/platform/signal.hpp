// Signal plumbing: install a handler without stealing the program's, pass on the faults that
// are not ours exactly as the previous disposition would have handled them, and write
// diagnostics from a signal handler. Everything marked async-signal-safe uses only syscalls
// and stack memory: no malloc, no locks, no stdio.
#pragma once
#include <signal.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tiermem::platform {

using SigInfoHandler = void (*)(int, siginfo_t *, void *);

/** True when the kernel generated the signal (a fault), false for kill/sigqueue/tgkill. */
inline bool sent_by_kernel(const siginfo_t *info) noexcept { return info && info->si_code > 0; }

/**
 * One signal's handler installed in front of whatever the program had. `install` keeps the
 * previous `struct sigaction`; `forward` hands a signal to it with the semantics the kernel
 * would have applied had tiermem never been installed. Must live in static storage
 * (constinit): the handler reads it at any time.
 */
class SignalChain {
 public:
  constexpr SignalChain() = default;

  /**
   * Installs `handler` for `sig` with SA_SIGINFO|SA_ONSTACK|SA_RESTART and an empty mask,
   * in front of the current disposition. Checks the kernel each time: a no-op while
   * `handler` is installed, a re-install in front of the program's newer handler when that
   * replaced ours. Normal context only; callers serialise calls. Returns 0 or -errno.
   */
  int install(int sig, SigInfoHandler handler) noexcept;

  /**
   * Async-signal-safe. Gives the signal to the previous disposition:
   * - a handler runs with its own sa_mask (and its signal unblocked under SA_NODEFER), as
   *   SA_SIGINFO or plain handler; SA_RESETHAND makes it one-shot (then SIG_DFL);
   * - SIG_IGN ignores signals sent by processes; a kernel-generated fault cannot be
   *   ignored (the kernel would reset to SIG_DFL and kill), so it takes the default action;
   * - SIG_DFL: the default action (for SIGBUS, death with a core dump).
   */
  void forward(int sig, siginfo_t *info, void *ucontext) noexcept;

  bool installed() const noexcept { return installed_.load(std::memory_order_acquire); }

 private:
  struct sigaction previous_ {};
  std::atomic<bool> installed_{false};
  std::atomic<bool> reset_to_default_{false};  // a SA_RESETHAND previous handler was used
};

/**
 * Async-signal-safe. Terminates the process by `sig` with its default disposition: reset
 * to SIG_DFL, unblock, re-raise on the calling thread. Never returns.
 */
[[noreturn]] void die_by_default(int sig) noexcept;

/**
 * Gives the calling thread an alternate signal stack (mmap'ed, with a guard page) unless it
 * already has one, so a handler still runs when the thread's own stack is the problem.
 * The stack is released when the thread exits. Normal context. Returns 0 or -errno.
 */
int ensure_alt_stack() noexcept;

/**
 * Async-signal-safe text formatting into a fixed buffer, flushed with write(2). Output that
 * does not fit is truncated, never allocated for.
 */
class SignalSafeWriter {
 public:
  explicit SignalSafeWriter(int fd) noexcept : fd_(fd) {}
  SignalSafeWriter &str(const char *s) noexcept;
  SignalSafeWriter &dec(std::uint64_t v) noexcept;
  SignalSafeWriter &sdec(std::int64_t v) noexcept;
  SignalSafeWriter &hex(std::uint64_t v) noexcept;  // "0x" prefix
  /** Writes the buffered text; retries on EINTR and short writes. */
  void flush() noexcept;

 private:
  void put(char c) noexcept {
    if (len_ < sizeof buf_) buf_[len_++] = c;
  }
  int fd_;
  std::size_t len_ = 0;
  char buf_[512];
};

}  // namespace tiermem::platform

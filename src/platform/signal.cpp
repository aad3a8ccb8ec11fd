#include "platform/signal.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

namespace tiermem::platform {

int SignalChain::install(int sig, SigInfoHandler handler) noexcept {
  struct sigaction current {};
  if (sigaction(sig, nullptr, &current) != 0) return -errno;
  if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == handler) {
    installed_.store(true, std::memory_order_release);
    return 0;
  }
  // Not (or no longer) ours: the program replaced the handler after we installed it, and
  // asks again. Go in front of what is there now; it becomes the disposition we forward to.
  // Record the previous disposition before ours can run, so that a fault on another thread
  // in the window between the two sigaction calls still finds where to forward to.
  previous_ = current;
  reset_to_default_.store(false, std::memory_order_relaxed);
  installed_.store(true, std::memory_order_release);

  struct sigaction ours {};
  ours.sa_sigaction = handler;
  ours.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&ours.sa_mask);
  struct sigaction replaced {};
  if (sigaction(sig, &ours, &replaced) != 0) {
    int err = errno;
    installed_.store(false, std::memory_order_release);
    return -err;
  }
  // Another thread of the program may have changed the disposition between our two calls:
  // what we replaced is what the program last asked for.
  previous_ = replaced;
  return 0;
}

void SignalChain::forward(int sig, siginfo_t *info, void *ucontext) noexcept {
  struct sigaction prev = previous_;
  if (reset_to_default_.load(std::memory_order_acquire)) {
    prev.sa_flags = 0;
    prev.sa_handler = SIG_DFL;
  }

  bool is_siginfo = (prev.sa_flags & SA_SIGINFO) != 0;
  if (!is_siginfo && prev.sa_handler == SIG_DFL) die_by_default(sig);
  if (!is_siginfo && prev.sa_handler == SIG_IGN) {
    if (sent_by_kernel(info)) die_by_default(sig);
    return;
  }

  if (prev.sa_flags & SA_RESETHAND) reset_to_default_.store(true, std::memory_order_release);

  // Run the previous handler under the mask the kernel would have installed for it.
  sigset_t mask;
  sigset_t saved;
  pthread_sigmask(SIG_SETMASK, nullptr, &saved);
  mask = saved;
  for (int s = 1; s < NSIG; ++s) {
    if (sigismember(&prev.sa_mask, s) == 1) sigaddset(&mask, s);
  }
  if (prev.sa_flags & SA_NODEFER) {
    sigdelset(&mask, sig);
  } else {
    sigaddset(&mask, sig);
  }
  pthread_sigmask(SIG_SETMASK, &mask, nullptr);
  if (is_siginfo) {
    prev.sa_sigaction(sig, info, ucontext);
  } else {
    prev.sa_handler(sig);
  }
  pthread_sigmask(SIG_SETMASK, &saved, nullptr);
}

void die_by_default(int sig) noexcept {
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  sigaction(sig, &dfl, nullptr);
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, sig);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  syscall(SYS_tgkill, getpid(), static_cast<pid_t>(syscall(SYS_gettid)), sig);
  // The signal is unblocked and pending, so it is delivered before tgkill returns to us.
  // Reaching this line means the default action did not terminate (it always does for the
  // signals we handle); do not continue past a fault regardless.
  _exit(128 + sig);
}

namespace {

// Unmaps the thread's alternate stack when the thread exits.
struct AltStack {
  void *base = nullptr;
  std::size_t size = 0;
  ~AltStack() {
    if (!base) return;
    stack_t off{};
    off.ss_flags = SS_DISABLE;
    stack_t cur{};
    if (sigaltstack(nullptr, &cur) == 0 && cur.ss_sp == static_cast<char *>(base) + page()) {
      sigaltstack(&off, nullptr);
    }
    munmap(base, size);
  }
  static std::size_t page() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }
};

thread_local AltStack alt_stack;

}  // namespace

int ensure_alt_stack() noexcept {
  stack_t cur{};
  if (sigaltstack(nullptr, &cur) != 0) return -errno;
  if (!(cur.ss_flags & SS_DISABLE)) return 0;  // the thread (or the program) already has one

  std::size_t page = AltStack::page();
  std::size_t usable = 64 * 1024;
  if (usable < static_cast<std::size_t>(SIGSTKSZ)) usable = static_cast<std::size_t>(SIGSTKSZ);
  usable = (usable + page - 1) / page * page;
  std::size_t total = usable + page;  // one guard page below the stack
  void *base = mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (base == MAP_FAILED) return -errno;
  if (mprotect(base, page, PROT_NONE) != 0) {
    int err = errno;
    munmap(base, total);
    return -err;
  }
  stack_t ss{};
  ss.ss_sp = static_cast<char *>(base) + page;
  ss.ss_size = usable;
  ss.ss_flags = 0;
  if (sigaltstack(&ss, nullptr) != 0) {
    int err = errno;
    munmap(base, total);
    return -err;
  }
  alt_stack.base = base;
  alt_stack.size = total;
  return 0;
}

SignalSafeWriter &SignalSafeWriter::str(const char *s) noexcept {
  while (s && *s) put(*s++);
  return *this;
}

SignalSafeWriter &SignalSafeWriter::dec(std::uint64_t v) noexcept {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) put(tmp[--n]);
  return *this;
}

SignalSafeWriter &SignalSafeWriter::sdec(std::int64_t v) noexcept {
  if (v < 0) {
    put('-');
    return dec(static_cast<std::uint64_t>(0) - static_cast<std::uint64_t>(v));
  }
  return dec(static_cast<std::uint64_t>(v));
}

SignalSafeWriter &SignalSafeWriter::hex(std::uint64_t v) noexcept {
  static const char digits[] = "0123456789abcdef";
  char tmp[16];
  int n = 0;
  do {
    tmp[n++] = digits[v & 0xf];
    v >>= 4;
  } while (v);
  put('0');
  put('x');
  while (n) put(tmp[--n]);
  return *this;
}

void SignalSafeWriter::flush() noexcept {
  std::size_t off = 0;
  while (off < len_) {
    ssize_t w = write(fd_, buf_ + off, len_ - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      break;
    }
    off += static_cast<std::size_t>(w);
  }
  len_ = 0;
}

}  // namespace tiermem::platform

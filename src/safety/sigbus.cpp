// Configuring the SIGBUS handler from normal code: installation, registered ranges, poison
// callbacks, the heap's owner lookup. The handler itself is in handler.cpp.
#include "safety/sigbus.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "platform/signal.hpp"
#include "platform/text.hpp"
#include "safety/copy_mc.hpp"
#include "safety/tables.hpp"

namespace tiermem::safety {

using namespace detail;

constinit std::atomic<bool> detail::handler_ready{false};

namespace {

std::mutex install_mutex;

}  // namespace

void set_owner_lookup(OwnerLookup fn) noexcept {
  owner_lookup.store(fn, std::memory_order_release);
}

void set_page_repair(PageRepair fn) noexcept { page_repair.store(fn, std::memory_order_release); }

void set_poison_mode(PoisonMode m) noexcept {
  detail::poison_mode.store(static_cast<int>(m), std::memory_order_release);
}

PoisonMode poison_mode() noexcept {
  return static_cast<PoisonMode>(detail::poison_mode.load(std::memory_order_acquire));
}

int apply_poison_env(const char **error) noexcept {
  const char *v = ::secure_getenv("TIERMEM_POISON");
  if (v == nullptr || *v == '\0') return 0;
  if (std::strcmp(v, "report") == 0) {
    set_poison_mode(PoisonMode::report);
  } else if (std::strcmp(v, "repair") == 0) {
    set_poison_mode(PoisonMode::repair);
  } else {
    if (error) {
      *error = "is not a poison mode; set TIERMEM_POISON=report (report, then die by SIGBUS) "
               "or TIERMEM_POISON=repair (replace a lost page of a node tier and continue)";
    }
    return -EINVAL;
  }
  return 0;
}

// TIERMEM_COPY_MC=rep-movsb|word-loop|avx2|portable overrides the choice: for benchmarks and
// for proving every routine on a real kernel.
int copy_routine_from_env(CopyRoutine *chosen, char *message, std::size_t n) noexcept {
  const char *v = ::secure_getenv("TIERMEM_COPY_MC");
  if (v == nullptr || *v == '\0') return 0;
  for (CopyRoutine r : all_copy_routines) {
    if (std::strcmp(v, routine_name(r)) == 0 && routine_available(r)) {
      *chosen = r;
      return 1;
    }
  }
  std::size_t at = 0;
  const auto put = [&](const char *text, std::size_t most) {
    at = platform::append_text(message, n, at, text, most);
  };
  put("tiermem: TIERMEM_COPY_MC=", 64);
  put(v, 64);
  put(" names no copy routine this machine runs; name one of", 64);
  for (CopyRoutine r : all_copy_routines) {
    if (!routine_available(r)) continue;
    put(" ", 1);
    put(routine_name(r), 32);
  }
  put(", or unset it: the timed choice is used\n", 64);
  if (n > 0) message[at] = '\0';
  return -1;
}

int install_handler() noexcept {
  std::lock_guard<std::mutex> lock(install_mutex);
  if (!detail::handler_ready.load(std::memory_order_relaxed)) {
    // cpuid's choice, settled by the first copy rep movsb would serve; a TIERMEM_COPY_MC
    // choice stands as it is.
    const CopyRoutine detected = cpuid_copy_routine();
    CopyRoutine chosen = detected;
    char message[256];
    const int from_env = copy_routine_from_env(&chosen, message, sizeof message);
    if (from_env > 0) {
      set_active_copy_routine(chosen);
    } else {
      if (from_env < 0) {
        const ssize_t rc = ::write(2, message, std::strlen(message));
        (void)rc;
      }
      set_detected_copy_routine(detected);
    }
  }
  if (int rc = sigbus_chain.install(SIGBUS, on_sigbus); rc != 0) return rc;
  detail::handler_ready.store(true, std::memory_order_release);
  return 0;
}

int thread_init() noexcept { return platform::ensure_alt_stack(); }

int init(InitStep *failed, const char **why) noexcept {
  InitStep step = InitStep::none;
  int rc = apply_poison_env(why);
  if (rc != 0) step = InitStep::poison_env;
  if (rc == 0 && (rc = install_handler()) != 0) step = InitStep::handler;
  if (rc == 0 && (rc = thread_init()) != 0) step = InitStep::alt_stack;
  if (failed) *failed = step;
  return rc;
}

int register_range(const void *addr, std::size_t len, int rank) noexcept {
  if (!addr || len == 0) return -EINVAL;
  for (RangeSlot &s : ranges) {
    int expected = kFree;
    if (!s.state.compare_exchange_strong(expected, kWriting, std::memory_order_acq_rel)) continue;
    s.gen.fetch_add(1, std::memory_order_acq_rel);
    s.start.store(reinterpret_cast<std::uintptr_t>(addr), std::memory_order_relaxed);
    s.len.store(len, std::memory_order_relaxed);
    s.rank.store(rank, std::memory_order_relaxed);
    s.state.store(kLive, std::memory_order_release);
    return 0;
  }
  return -ENOSPC;
}

int unregister_range(const void *addr) noexcept {
  std::uintptr_t a = reinterpret_cast<std::uintptr_t>(addr);
  for (RangeSlot &s : ranges) {
    if (s.state.load(std::memory_order_acquire) != kLive) continue;
    if (s.start.load(std::memory_order_relaxed) != a) continue;
    int expected = kLive;
    if (!s.state.compare_exchange_strong(expected, kRemoving, std::memory_order_acq_rel)) continue;
    s.gen.fetch_add(1, std::memory_order_acq_rel);
    s.len.store(0, std::memory_order_relaxed);
    s.state.store(kFree, std::memory_order_release);
    return 0;
  }
  return -ENOENT;
}

int add_poison_callback(PoisonCallback fn, void *user) noexcept {
  if (!fn) return -EINVAL;
  for (CallbackSlot &c : callbacks) {
    int expected = kFree;
    if (!c.state.compare_exchange_strong(expected, kWriting, std::memory_order_acq_rel)) continue;
    c.fn.store(fn, std::memory_order_relaxed);
    c.user.store(user, std::memory_order_relaxed);
    c.state.store(kLive, std::memory_order_release);
    return 0;
  }
  return -ENOSPC;
}

int remove_poison_callback(PoisonCallback fn, void *user) noexcept {
  for (CallbackSlot &c : callbacks) {
    if (c.state.load(std::memory_order_acquire) != kLive) continue;
    if (c.fn.load(std::memory_order_relaxed) != fn ||
        c.user.load(std::memory_order_relaxed) != user)
      continue;
    int expected = kLive;
    if (!c.state.compare_exchange_strong(expected, kRemoving, std::memory_order_acq_rel)) continue;
    c.fn.store(nullptr, std::memory_order_relaxed);
    c.state.store(kFree, std::memory_order_release);
    return 0;
  }
  return -ENOENT;
}

}  // namespace tiermem::safety

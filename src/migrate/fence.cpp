#include "migrate/fence.hpp"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>

#include "migrate/faults.hpp"

namespace tiermem::migrate {
namespace {

// A slot's state is also its futex word: writers of a closed slot sleep on it.
enum : std::uint32_t { kFree = 0, kClosed = 1, kReleased = 2, kClaimed = 3 };

struct Slot {
  std::atomic<std::uint32_t> state{kFree};
  std::atomic<std::uintptr_t> begin{0};
  std::atomic<std::uintptr_t> end{0};
};

constinit Slot g_slots[kFenceSlots];
constinit std::atomic<int> g_next_reuse{0};
constinit std::atomic<std::uint64_t> g_waited{0};

long futex(std::atomic<std::uint32_t> *word, int op, std::uint32_t value) noexcept {
  return ::syscall(SYS_futex, reinterpret_cast<std::uint32_t *>(word), op, value, nullptr, nullptr, 0);
}

bool in(const Slot &s, std::uintptr_t a) noexcept {
  return a >= s.begin.load(std::memory_order_acquire) && a < s.end.load(std::memory_order_acquire);
}

}  // namespace

bool fence_fault(std::uintptr_t a) noexcept {
  bool waited = false;
  for (Slot &s : g_slots) {
    if (s.state.load(std::memory_order_acquire) != kClosed || !in(s, a)) continue;
    while (s.state.load(std::memory_order_acquire) == kClosed) futex(&s.state, FUTEX_WAIT_PRIVATE, kClosed);
    waited = true;
  }
  if (waited) {
    g_waited.fetch_add(1, std::memory_order_relaxed);
    return true;  // the write is retried on the memory now mapped there
  }
  // Released between the fault and this check: the range is writable again. Heap memory is
  // never read-only outside a fence, so a retry here cannot loop.
  for (Slot &s : g_slots) {
    if (s.state.load(std::memory_order_acquire) == kReleased && in(s, a)) return true;
  }
  return false;
}

namespace {

// A free slot, else the released one reused longest ago (its range is remembered until then,
// for writers that faulted just before its release).
int claim() noexcept {
  for (int i = 0; i < kFenceSlots; ++i) {
    std::uint32_t expected = kFree;
    if (g_slots[i].state.compare_exchange_strong(expected, kClaimed)) return i;
  }
  for (int n = 0; n < kFenceSlots; ++n) {
    const int i = g_next_reuse.fetch_add(1, std::memory_order_relaxed) % kFenceSlots;
    std::uint32_t expected = kReleased;
    if (g_slots[i].state.compare_exchange_strong(expected, kClaimed)) return i;
  }
  return -EBUSY;
}

}  // namespace

int fence(void *addr, std::size_t len) noexcept {
  const auto a = reinterpret_cast<std::uintptr_t>(addr);
  const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
  if (len == 0 || a % page != 0 || len % page != 0) return -EINVAL;
  if (int rc = install_fault_handler(); rc != 0) return rc;
  const int i = claim();
  if (i < 0) return i;
  Slot &s = g_slots[i];
  // Published before the range turns read-only: a writer that faults finds it.
  s.begin.store(a, std::memory_order_release);
  s.end.store(a + len, std::memory_order_release);
  s.state.store(kClosed, std::memory_order_release);
  if (::mprotect(addr, len, PROT_READ) != 0) {
    const int err = errno;
    s.begin.store(0, std::memory_order_release);
    s.end.store(0, std::memory_order_release);
    s.state.store(kFree, std::memory_order_release);
    return -err;
  }
  return i;
}

void release_fence(int slot) noexcept {
  if (slot < 0 || slot >= kFenceSlots) return;
  Slot &s = g_slots[slot];
  s.state.store(kReleased, std::memory_order_release);
  futex(&s.state, FUTEX_WAKE_PRIVATE, INT_MAX);
}

std::uint64_t fenced_writes() noexcept { return g_waited.load(std::memory_order_relaxed); }

}  // namespace tiermem::migrate

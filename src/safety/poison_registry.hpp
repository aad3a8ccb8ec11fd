// The poison registry: every poisoned range tiermem has seen, at the granularity the kernel
// reported (si_addr_lsb). Written from the SIGBUS handler, read from normal code, so it is a
// fixed array with lock-free slot claiming; ranges are never removed (poison is permanent
// until the page is replaced or the error cleared, and both go through tiermem).
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace tiermem::safety {

struct PoisonRange {
  std::uintptr_t start = 0;
  std::size_t length = 0;
  unsigned lsb = 0;
  int rank = -1;  ///< the rank of the tier that held it, -1 when not tiermem's memory
};

class PoisonRegistry {
 public:
  static constexpr std::size_t capacity = 1024;

  constexpr PoisonRegistry() = default;

  /**
   * Records the unit of `1 << lsb` bytes around `addr` (lsb 0, which the kernel never
   * reports for poison, counts as a 4 KiB page). Async-signal-safe, lock-free. Returns false
   * when the range was already known or the registry is full (then dropped() counts it).
   * Two threads recording the same new range at the same instant may both add it.
   */
  bool record(std::uintptr_t addr, unsigned lsb, int rank) noexcept;

  /** True when any byte of [addr, addr + len) is recorded. Async-signal-safe. */
  bool contains(std::uintptr_t addr, std::size_t len) const noexcept;

  /**
   * The offset in [addr, addr + n) of the first byte inside a recorded range, or n when none
   * is. One atomic load when the registry is empty. Async-signal-safe.
   */
  std::size_t first_poisoned(std::uintptr_t addr, std::size_t n) const noexcept;

  /**
   * Forgets the ranges that overlap [addr, addr + len): for memory being unmapped, whose
   * addresses a later mapping may reuse. Their slots are not reused.
   */
  std::size_t forget(std::uintptr_t addr, std::size_t len) noexcept;

  /** Number of published ranges. */
  std::size_t size() const noexcept;
  /** Range `i` (< size()); false when out of range, not yet published or forgotten. */
  bool get(std::size_t i, PoisonRange *out) const noexcept;
  /** Ranges lost because the registry was full. */
  std::size_t dropped() const noexcept { return dropped_.load(std::memory_order_relaxed); }

  /** Forgets everything. Tests only: not safe against concurrent record(). */
  void clear_for_testing() noexcept;

 private:
  struct Slot {
    std::atomic<bool> ready{false};
    std::atomic<std::uintptr_t> start{0};
    std::atomic<unsigned> lsb{0};
    std::atomic<int> rank{-1};
  };
  Slot slots_[capacity];
  std::atomic<std::size_t> claimed_{0};
  std::atomic<std::size_t> dropped_{0};
};

/** The process-wide registry the SIGBUS handler writes. */
PoisonRegistry &poison_registry() noexcept;

namespace detail {
extern std::atomic<bool> any_poison;
}
/**
 * True once the process-wide registry recorded a range (and stays true after forget()):
 * one relaxed load, for the heap's free and allocation paths to skip poison checks until
 * the first memory error.
 */
inline bool poison_ever_recorded() noexcept {
  return detail::any_poison.load(std::memory_order_relaxed);
}

}  // namespace tiermem::safety

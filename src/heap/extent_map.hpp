// Where jemalloc's extents begin, per tier, readable from a signal handler. A poison report
// must name the allocation around a faulting address without calling jemalloc (whose lookups
// take thread state and may run under its locks), so the heap wraps each tier's extent hooks
// and keeps one bit per page of the slot: set where an extent starts. Every split, merge and
// new extent passes through the hooks, so the bits always describe jemalloc's extents: a
// large block (tiermem asks for page alignment, so the block starts at its extent's start)
// or a slab of small blocks.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "backend/hooks.hpp"
#include "platform/raii.hpp"

namespace tiermem::heap {

/** Told about every range a tier's backend gave back to the kernel (a forced purge). */
using PurgeObserver = void (*)(void *addr, std::size_t len) noexcept;
/** Sets (or clears with nullptr) the observer; the api layer forgets poison there. */
void set_purge_observer(PurgeObserver fn) noexcept;

class ExtentMap {
 public:
  /** Covers [base, base + span); reserves one bit per page (MAP_NORESERVE). Throws Error. */
  ExtentMap(std::byte *base, std::size_t span, backend::extent_hooks_t *inner);
  ExtentMap(const ExtentMap &) = delete;
  ExtentMap &operator=(const ExtentMap &) = delete;

  /** The hook table to give jemalloc: the backend's hooks, with the boundaries recorded. */
  backend::extent_hooks_t *hooks() noexcept { return &wrap_.hooks; }

  /**
   * The extent holding `addr`: [*start, *end). False when `addr` is outside every extent
   * handed out so far. Async-signal-safe (atomic loads only); an extent being split or
   * merged at that instant may be seen either way.
   */
  bool find(std::uintptr_t addr, std::uintptr_t *start, std::uintptr_t *end) const noexcept;

 private:
  struct Wrap {
    backend::extent_hooks_t hooks;  // first: jemalloc hands this address back to every hook
    backend::extent_hooks_t *inner;
    ExtentMap *self;
  };
  static ExtentMap *self(backend::extent_hooks_t *h) noexcept {
    return reinterpret_cast<Wrap *>(h)->self;
  }
  static backend::extent_hooks_t *inner(backend::extent_hooks_t *h) noexcept {
    return reinterpret_cast<Wrap *>(h)->inner;
  }
  static void *alloc(backend::extent_hooks_t *, void *, std::size_t, std::size_t, bool *, bool *,
                     unsigned);
  static bool dalloc(backend::extent_hooks_t *, void *, std::size_t, bool, unsigned);
  static void destroy(backend::extent_hooks_t *, void *, std::size_t, bool, unsigned);
  static bool commit(backend::extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                     unsigned);
  static bool decommit(backend::extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                       unsigned);
  static bool purge_lazy(backend::extent_hooks_t *, void *, std::size_t, std::size_t,
                         std::size_t, unsigned);
  static bool purge_forced(backend::extent_hooks_t *, void *, std::size_t, std::size_t,
                           std::size_t, unsigned);
  static bool split(backend::extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                    bool, unsigned);
  static bool merge(backend::extent_hooks_t *, void *, std::size_t, void *, std::size_t, bool,
                    unsigned);

  void mark(std::uintptr_t addr, bool on) noexcept;
  bool bit(std::size_t page) const noexcept;

  std::uintptr_t base_;
  std::size_t pages_;
  platform::Mapping bits_map_;                  // the bits' pages (zero: no extent yet)
  std::atomic<std::uint64_t> *bits_ = nullptr;  // into bits_map_
  std::atomic<std::uintptr_t> top_{0};  // end of the highest extent handed out
  Wrap wrap_;
};

}  // namespace tiermem::heap

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
#include <string>
#include <utility>

#include "backend/hooks.hpp"
#include "platform/raii.hpp"

namespace tiermem::heap {

/**
 * Zeroed anonymous memory for one of the heap's tables (MAP_NORESERVE: only what is touched
 * costs), `what` naming it in the message; throws tiermem::Error ("tiermem: cannot map WHAT
 * (N bytes): REASON; check `ulimit -v`") when it cannot be mapped.
 */
platform::Mapping map_table(const std::string &what, std::size_t bytes);

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

  /**
   * jemalloc's own metadata for this arena (its "base": arena_t, edata_t, bins) lives in
   * DRAM, never in the tier, so a memory error on the tier hits only user data. base_map()
   * is the only caller asking for a fresh 2 MiB-aligned multiple of 2 MiB (with opt.retain
   * and opt.cache_oblivious, checked at heap open, extents are PAGE aligned or one page
   * longer than a multiple of their alignment); those requests get anonymous memory here.
   */
  static constexpr std::size_t kMetaAlign = std::size_t{2} << 20;
  static constexpr std::size_t kMaxMeta = 128;
  /** Bytes of metadata served from DRAM so far. */
  std::size_t meta_bytes() const noexcept { return meta_bytes_.load(std::memory_order_acquire); }
  /** How many metadata mappings; meta(i) is the i-th as [start, end). Async-signal-safe. */
  std::size_t meta_count() const noexcept { return meta_count_.load(std::memory_order_acquire); }
  std::pair<std::uintptr_t, std::uintptr_t> meta(std::size_t i) const noexcept {
    return {reinterpret_cast<std::uintptr_t>(meta_[i].addr()),
            reinterpret_cast<std::uintptr_t>(meta_[i].addr()) + meta_[i].len()};
  }

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
  void *map_meta(std::size_t size) noexcept;
  bool bit(std::size_t page) const noexcept;

  std::uintptr_t base_;
  std::size_t pages_;
  platform::Mapping bits_map_;                  // the bits' pages (zero: no extent yet)
  std::atomic<std::uint64_t> *bits_ = nullptr;  // into bits_map_
  std::atomic<std::uintptr_t> top_{0};  // end of the highest extent handed out
  Wrap wrap_;
  // Never unmapped while the arena lives (jemalloc frees base blocks only when an arena is
  // destroyed, which tiermem never does); filled under jemalloc's base mutex.
  platform::Mapping meta_[kMaxMeta];
  std::atomic<std::size_t> meta_count_{0};
  std::atomic<std::size_t> meta_bytes_{0};
};

}  // namespace tiermem::heap

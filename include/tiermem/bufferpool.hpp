/**
 * @file bufferpool.hpp
 * @brief A database buffer pool whose frames lie on several memory tiers.
 *
 * Pages of one fixed size (a power of two from 4 KiB to 64 KiB) are cached in frames
 * allocated from tiermem tiers, fastest first (the order of Options::tiers). A page read
 * from storage lands in the fastest tier. Each tier runs its own CLOCK: when a tier is full,
 * a cold unpinned page is *demoted* into a frame of the next tier instead of being dropped;
 * a page hit `promote_after` times on a slower tier is *promoted* one tier up; only the
 * slowest tier evicts to storage (writing a dirty page back first), except when every frame
 * of the slower tiers is pinned: then the victim is evicted from its own tier. A page read
 * on a miss goes to the fastest tier with an unpinned frame. Every page move and
 * every write-back reads the frame with tm_copy_mc(), so a memory error in a frame is
 * survived: the frame is *retired* (never used again), a clean page is reloaded from
 * storage on its next pin, invisibly, and a dirty page is reported lost through
 * Options::on_lost.
 *
 * Frames are 4 KiB-aligned blocks of the tiered heap, allocated on first need up to each
 * tier's capacity and freed with the pool (except retired ones).
 *
 * Thread safety: every member function may be called from any thread. A hit takes no lock:
 * a lock-free page table lookup, then one atomic add on the frame for a pin (it pins the
 * page and counts the hit), or no atomic write at all for a read() on the fastest tier.
 * Misses, promotions and replacement are serialised by one pool mutex. A hit that races
 * with a move of its page waits for the move on that mutex.
 *
 * Signals: the constructor installs tiermem's SIGBUS handler (tm_safety_init(), which puts
 * it in front of one the program installed, forwarding what is not tiermem's), because
 * read() copies short ranges inline and relies on it to survive a memory error.
 *
 * Errors: the constructor and pin() throw tiermem::Error (negative errno-style code, a
 * message naming the object and the remedy); a failed storage callback reaches the caller
 * of pin()/flush() as tiermem::Error and the page concerned stays valid in the pool.
 */
#pragma once
// std::span in the interface: the buffer pool's C++ API needs C++20 (its C API does not).
#if !defined(__cplusplus) || __cplusplus < 202002L
#error "tiermem/bufferpool.hpp needs C++20 (std::span); compile with -std=c++20, or use tiermem/bufferpool.h"
#endif
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "tiermem/error.hpp"
#include "tiermem/tiermem.h"  // as before: users of this header got the C ABI with it

namespace tiermem {

class BufferPool {
 public:
  using PageId = std::uint64_t;
  /** Loads page `id` into `page`; returns 0 or a negative errno-style code. */
  using ReadFn = std::function<int(PageId id, std::span<std::byte> page)>;
  /** Writes dirty page `id` back to storage; returns 0 or a negative errno-style code. */
  using WriteFn = std::function<int(PageId id, std::span<const std::byte> page)>;
  /** Told that dirty page `id` was lost to a memory error (its frame is retired). */
  using LostFn = std::function<void(PageId id)>;

  /** Frames on one tier: `spec` as tm_tier_find() takes it, `capacity` in bytes. */
  struct TierCapacity {
    std::string spec;
    std::size_t capacity;
  };

  struct Options {
    std::size_t page_size = 8192;        ///< power of two, 4 KiB .. 64 KiB
    std::vector<TierCapacity> tiers;     ///< fastest first; at least one
    ReadFn read;                         ///< required
    WriteFn write;                       ///< required when pages are ever unpinned dirty
    LostFn on_lost;                      ///< optional; called with the pool mutex held:
                                       ///< it must not call into the pool
    unsigned promote_after = 2;          ///< hits on a slower tier before a promotion (>= 1)
  };

  struct TierStats {
    std::string name;          ///< tm_tier_name() of the tier
    std::size_t frames;        ///< frames the capacity allows
    std::size_t used;          ///< frames holding a page now
    std::uint64_t hits;        ///< pins and reads served from this tier
  };
  struct Stats {
    std::vector<TierStats> tiers;
    std::uint64_t misses = 0;       ///< pins that read the page from storage
    std::uint64_t promotions = 0;   ///< pages moved one tier up
    std::uint64_t demotions = 0;    ///< pages moved one tier down
    std::uint64_t evictions = 0;    ///< pages dropped from the slowest tier
    std::uint64_t writebacks = 0;   ///< dirty pages written to storage
    std::uint64_t retired = 0;      ///< frames retired after a memory error
    std::uint64_t lost = 0;         ///< dirty pages lost to a memory error
  };

  /** A pinned page; unpins on destruction (clean unless mark_dirty() was called). */
  class Pin {
   public:
    Pin() = default;
    Pin(Pin &&o) noexcept : pool_(std::exchange(o.pool_, nullptr)), frame_(o.frame_), id_(o.id_) {}
    Pin &operator=(Pin &&o) noexcept {
      if (this != &o) {
        release();
        pool_ = std::exchange(o.pool_, nullptr);
        frame_ = o.frame_;
        id_ = o.id_;
      }
      return *this;
    }
    Pin(const Pin &) = delete;
    Pin &operator=(const Pin &) = delete;
    ~Pin() { release(); }

    /** The page's bytes; valid until the pin is released. */
    std::span<std::byte> data() const noexcept;
    PageId id() const noexcept { return id_; }
    explicit operator bool() const noexcept { return pool_ != nullptr; }
    /** Records that the page was modified: it is written back before it leaves memory. */
    void mark_dirty() noexcept;
    /** Unpins now (dirty when `dirty` or mark_dirty() was called). */
    void release(bool dirty = false) noexcept;

   private:
    friend class BufferPool;
    Pin(BufferPool *pool, void *frame, PageId id) noexcept : pool_(pool), frame_(frame), id_(id) {}
    BufferPool *pool_ = nullptr;
    void *frame_ = nullptr;
    PageId id_ = 0;
  };

  /** Throws tiermem::Error: -EINVAL (page size, capacity, missing read callback, no
   *  tier), -ENOENT (unknown tier), -ENOMEM (a capacity larger than its tier). */
  explicit BufferPool(Options options);
  /** Writes back dirty pages (errors are ignored: call flush() first to see them). */
  ~BufferPool();
  BufferPool(const BufferPool &) = delete;
  BufferPool &operator=(const BufferPool &) = delete;

  /** Pins page `id`, reading it from storage on a miss. Throws tiermem::Error: -EBUSY when
   *  every frame that could take the page is pinned, -EOVERFLOW when the page is pinned
   *  2^20 times already, the read/write callback's code, or
   *  -EHWPOISON when the page was dirty and its frame failed while promoting it (the page
   *  was reported to on_lost; the next pin reads the stored version). */
  Pin pin(PageId id);
  /** Pins without a guard (for the C API): returns the page's bytes. */
  std::byte *pin_raw(PageId id);
  /** Undoes one pin_raw(); -EINVAL (as tiermem::Error) when `id` is not pinned. */
  void unpin(PageId id, bool dirty);
  /** Copies `out.size()` bytes of page `id`, from byte `offset` on, into `out`, reading the
   *  page from storage on a miss. A hit on the fastest tier takes no pin and writes nothing
   *  shared: the copy is validated against the sequence number of the page's page-table
   *  slot, which every move of the page changes, and a copy that raced with a move is redone
   *  under a pin. The copy is
   *  machine-check safe: a clean page whose frame fails is reloaded into another frame,
   *  invisibly; a dirty one is reported to on_lost. Like a pin, a read is not ordered
   *  against a thread writing the page in place through its own pin: latch pages you write.
   *  Throws tiermem::Error: -EINVAL (the range runs past the page), -EHWPOISON (a dirty page
   *  lost, a failed frame still pinned elsewhere, or a failure in `out` itself), and what
   *  pin() throws. */
  void read(PageId id, std::size_t offset, std::span<std::byte> out);
  /** Writes every dirty unpinned page back; throws the first callback error. */
  void flush();

  std::size_t page_size() const noexcept;
  Stats stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/**
 * SQLite's page cache on tiers (link `tiermem_bufferpool_sqlite`). SQLite's pcache has no
 * storage callbacks (an unpinned page of a file database may be dropped and is reread from
 * the file; an in-memory database's pages must stay), so this is not a BufferPool: each SQLite
 * cache keeps a hash table of page slots whose memory comes from the fast tier while the
 * process-wide `fast_bytes` budget lasts, then from the slow tier; a purgeable cache recycles
 * its least recently unpinned slot once it holds `cache_size` pages.
 */
namespace sqlite {

struct PageCacheOptions {
  std::string fast = "rank:0";          ///< tier spec of the fast tier
  std::size_t fast_bytes = 64u << 20;   ///< page bytes (all caches together) on the fast tier
  std::string slow;                     ///< tier spec for the rest; empty: all on `fast`
};

struct PageCacheStats {
  std::uint64_t fast_pages;   ///< page slots ever allocated on the fast tier
  std::uint64_t slow_pages;   ///< page slots ever allocated on the slow tier
  std::uint64_t fetches;      ///< xFetch calls
  std::uint64_t hits;         ///< xFetch calls that found the page cached
  std::uint64_t fast_bytes;   ///< bytes on the fast tier now
};

/** Installs the tiered page cache with sqlite3_config(SQLITE_CONFIG_PCACHE2). Call it once,
 *  before sqlite3_initialize() and any other SQLite call (SQLite accepts a page cache only
 *  then). Throws tiermem::Error: -ENOENT (tier), -EBUSY (SQLite already initialised). */
void install_page_cache(const PageCacheOptions &options = {});
/** Counters of the installed page cache. */
PageCacheStats page_cache_stats();

}  // namespace sqlite
}  // namespace tiermem

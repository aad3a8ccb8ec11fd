// The buffer pool: a lock-free page table over frames on several levels (each level on one
// tier, fastest first), one CLOCK per level.
//
// Latching. A hit takes no lock: it finds the frame in the page table (page_table.hpp) and
// pins it *optimistically* with one atomic add on the frame's state word (pin count, an
// "attached" bit, hits), then checks what the add returned: the frame was attached and holds
// the page asked for. Anything else (a page on the move, a slot rewritten under the lookup,
// a promotion due, a miss) undoes the add and takes the latched slow path. Everything that
// changes which frame holds a page (miss, promotion, demotion, eviction, flush) holds the pool
// mutex and *detaches* the page first: one compare-and-swap from "attached, no pins" to 0, so
// a detach and an optimistic pin cannot both succeed. A detached frame has no user while its
// bytes are copied; a pin that meets it waits on the pool mutex, after which it finds the page
// where the move left it. Attaching adds the bit (never stores the word): a pin that found
// the frame while it was detached still has its add to undo.
//
// Reads without a pin. read() copies bytes out of a page on the fastest level without writing
// anything shared: the page table's slot for the page is a sequence lock over "this page is
// in this frame" (page_table.hpp). A reader snapshots the slot, copies from the frame memory
// the slot names with the machine-check-safe copy (inline up to 16 bytes), and checks that
// the slot did not change: then the copy is the page's; else the page moved under the copy
// and the read takes the pinned path. Every move erases the page's slot before the frame is
// rewritten. The copy races with the pool rewriting a frame whose page it has just erased;
// the race is harmless because such a copy is thrown away, and invisible to ThreadSanitizer
// because the copy is assembly. A read's hit is counted in the reader's own stripe of a
// per-pool counter, and its CLOCK bit lives in a dense array beside the frames: the hit
// touches the slot's line and the page's, not the frame's.
#include "tiermem/bufferpool.hpp"

#include <atomic>
#include <bit>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <optional>

#include "api/copy_mc.hpp"
#include "bufferpool/page_table.hpp"
#include "tiermem/tiermem.h"

namespace tiermem {

// Named (not anonymous): BufferPool::Impl, which has external linkage, holds these.
namespace bufferpool_detail {

enum class State : std::uint8_t { Free, Used, Detached, Retired };

// The frame's state word: pins (bits 0..23), kAttached while the page table lists the frame's
// page and pins are allowed, and the hits counted since the last harvest (bits 25..63; an
// add that carries out of bit 63 drops the carry, harmlessly). One atomic add counts a pin
// and its hit together.
constexpr unsigned kPinBits = 24;
constexpr std::uint64_t kPinMask = (std::uint64_t{1} << kPinBits) - 1;
constexpr std::uint64_t kAttached = std::uint64_t{1} << kPinBits;
constexpr unsigned kHitShift = kPinBits + 1;
constexpr std::uint64_t kHit = std::uint64_t{1} << kHitShift;
// Far below kPinMask: optimistic adds that are about to be undone must never carry into
// kAttached.
constexpr std::uint64_t kMaxPins = std::uint64_t{1} << 20;

// A cache line each: two threads hitting two pages never share a line.
struct alignas(64) Frame {
  std::atomic<std::uint64_t> word{0};
  std::atomic<BufferPool::PageId> page{0};  // changed only while detached
  std::byte *mem = nullptr;
  std::uint64_t hits = 0;                   // hits harvested from the word (pool mutex)
  // Harvested hits since the page came to this level; read by the hit path to decide a
  // promotion, written under the pool mutex.
  std::atomic<std::uint64_t> level_hits{0};
  std::uint32_t level = 0;                  // fixed once the frame has memory
  std::atomic<bool> *ref = nullptr;         // CLOCK's second chance: the level's refs[index]
  std::uint32_t index = 0;                  // in the level's frames
  std::atomic<bool> dirty{false};
  State state = State::Free;                // pool mutex
};
static_assert(sizeof(Frame) == 64, "a frame's bookkeeping fills one cache line");

// A level of the pool: its frames, all on one tier (`tier`), and that level's CLOCK.
struct Level {
  tm_tier *tier = nullptr;
  std::string name;
  std::size_t nframes = 0;
  std::unique_ptr<Frame[]> frames;
  // The frames' CLOCK bits, dense: a pin-less read sets its page's without touching the
  // frame's cache line.
  std::unique_ptr<std::atomic<bool>[]> refs;
  std::size_t allocated = 0;  // frames[0, allocated) have memory
  std::size_t retired = 0;
  std::vector<Frame *> free;
  std::size_t hand = 0;
};

constexpr std::size_t kFrameAlign = 4096;

// The page table's word for a page (PageTable meta): its frame's index in the level's frames,
// and whether the level is the fastest (where reads take no pin).
constexpr std::uint32_t kFastLevel = std::uint32_t{1} << 31;
constexpr std::uint32_t kIndexMask = kFastLevel - 1;

// Hits of pin-less reads, counted per thread: the first kReadStripes threads that read any
// pool own one stripe each (a plain load and store, no read-modify-write, exact because the
// stripe has one writer); later threads share the last stripe with an atomic add.
constexpr unsigned kReadStripes = 64;
struct alignas(64) ReadStripe {
  std::atomic<std::uint64_t> hits{0};
};

// This thread's stripe index, 1-based (0: not chosen yet); indices are never reused.
constinit thread_local unsigned t_read_stripe = 0;
std::atomic<unsigned> g_read_stripes{0};

inline void count_read_hit(ReadStripe *stripes) noexcept {
  unsigned s = t_read_stripe;
  if (s == 0) [[unlikely]]
    t_read_stripe = s = g_read_stripes.fetch_add(1, std::memory_order_relaxed) + 1;
  if (s <= kReadStripes) {
    std::atomic<std::uint64_t> &c = stripes[s - 1].hits;
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  } else {
    stripes[kReadStripes].hits.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace bufferpool_detail

namespace {

std::string bytes_text(std::size_t n) { return std::to_string(n) + " bytes"; }

std::string errno_text(int code) { return tm_strerror(code); }

}  // namespace

using namespace bufferpool_detail;

struct BufferPool::Impl {
  Options opt;
  std::vector<std::unique_ptr<Level>> levels;
  std::optional<PageTable<Frame>> table;  // written under pool_mu, read without
  std::mutex pool_mu;
  std::vector<std::byte> bounce;  // write-back copies (pool mutex)
  std::atomic<std::uint64_t> misses{0}, promotions{0}, demotions{0}, evictions{0},
      writebacks{0}, retired{0}, lost{0};
  std::unique_ptr<ReadStripe[]> read_hits = std::make_unique<ReadStripe[]>(kReadStripes + 1);
  std::atomic<bool> *fast_refs = nullptr;  // levels[0]->refs

  // --- frame bookkeeping (pool mutex held) ---

  void attach(Frame *f, PageId id, bool pinned) {
    f->page.store(id, std::memory_order_relaxed);
    f->state = State::Used;
    f->ref->store(true, std::memory_order_relaxed);
    // A pin-less read may copy from now on (the slot's release orders the page's bytes
    // before it).
    table->insert(id, f, (f->level == 0 ? kFastLevel : 0) | f->index);
    f->word.fetch_add(kAttached + (pinned ? 1 : 0), std::memory_order_release);
  }

  // Takes f's page out of reach of pins; fails while anybody pins it (or is about to undo an
  // optimistic pin). The word's hits move to the frame's counters.
  bool detach(Frame *f) {
    std::uint64_t w = f->word.load(std::memory_order_relaxed);
    do {
      if ((w & kAttached) == 0 || (w & kPinMask) != 0) return false;
    } while (!f->word.compare_exchange_weak(w, 0, std::memory_order_acquire,
                                            std::memory_order_relaxed));
    f->hits += w >> kHitShift;
    f->level_hits.fetch_add(w >> kHitShift, std::memory_order_relaxed);
    // Before anything rewrites the frame: a pin-less read that copied from it sees its slot
    // changed (PageTable's sequence lock).
    table->erase(f->page.load(std::memory_order_relaxed));
    f->state = State::Detached;
    return true;
  }

  void give_back(Frame *f) {
    f->state = State::Free;
    f->dirty.store(false, std::memory_order_relaxed);
    f->level_hits.store(0, std::memory_order_relaxed);
    levels[f->level]->free.push_back(f);
  }

  // A copy out of `f` failed: its memory is bad. The frame is never used again (nor freed:
  // the heap would hand the memory out again); a dirty page's contents are gone.
  void retire(Frame *f) {
    f->state = State::Retired;
    ++levels[f->level]->retired;
    retired.fetch_add(1, std::memory_order_relaxed);
    if (f->dirty.load(std::memory_order_relaxed)) {
      lost.fetch_add(1, std::memory_order_relaxed);
      if (opt.on_lost) opt.on_lost(f->page.load(std::memory_order_relaxed));
    }
  }

  // CLOCK over level t: detaches and returns a cold unpinned page's frame.
  Frame *pick_victim(std::size_t t) {
    Level &L = *levels[t];
    std::size_t n = L.allocated;
    for (std::size_t step = 0; step < 3 * n; ++step) {
      Frame &f = L.frames[L.hand];
      L.hand = (L.hand + 1) % n;
      if (f.state != State::Used) continue;
      if ((f.word.load(std::memory_order_relaxed) & kPinMask) != 0) continue;
      if (f.ref->exchange(false, std::memory_order_relaxed)) continue;
      if (detach(&f)) return &f;
    }
    throw Error(-EBUSY, "tiermem: buffer pool: all " + std::to_string(n - L.retired) +
                            " frames of tier " + L.name +
                            " are pinned; unpin pages or give the tier more capacity");
  }

  // Writes a detached dirty page back through a machine-check-safe copy. Returns false when
  // the frame's memory is bad (the frame is then retired); throws when storage fails (the
  // page is then attached again, still dirty).
  bool write_back(Frame *v) {
    if (tm_copy_mc(bounce.data(), v->mem, bounce.size()) != 0) {
      retire(v);
      return false;
    }
    PageId id = v->page.load(std::memory_order_relaxed);
    int rc;
    try {
      rc = opt.write ? opt.write(id, std::span<const std::byte>(bounce)) : -EINVAL;
    } catch (...) {  // a throwing callback: the page stays, as for an error code
      attach(v, id, false);
      throw;
    }
    if (rc != 0) {
      attach(v, id, false);
      throw Error(rc < 0 ? rc : -EIO,
                  "tiermem: buffer pool: writing page " + std::to_string(id) + " back failed (" +
                      (opt.write ? errno_text(rc < 0 ? rc : -EIO)
                                 : std::string("no write callback")) +
                      "); the page stays in the pool, dirty");
    }
    writebacks.fetch_add(1, std::memory_order_relaxed);
    v->dirty.store(false, std::memory_order_relaxed);
    return true;
  }

  // A free frame on level t, making room by demotion (or, on the slowest level, eviction).
  Frame *take_frame(std::size_t t) {
    Level &L = *levels[t];
    for (;;) {
      if (!L.free.empty()) {
        Frame *f = L.free.back();
        L.free.pop_back();
        return f;
      }
      if (L.allocated < L.nframes) {
        // Aligned to the system page, not to the frame size: the heap's size classes are
        // page-aligned already, while a larger alignment pads every frame.
        void *m = tm_aligned_alloc(L.tier, kFrameAlign, opt.page_size);
        if (m == nullptr)
          throw Error(-ENOMEM, "tiermem: buffer pool: tier " + L.name + " has no room for frame " +
                                   std::to_string(L.allocated) + " (" + tm_last_error() +
                                   "); lower its capacity");
        Frame &f = L.frames[L.allocated++];
        f.mem = static_cast<std::byte *>(m);
        f.level = static_cast<std::uint32_t>(t);
        return &f;
      }
      Frame *v = pick_victim(t);
      PageId vid = v->page.load(std::memory_order_relaxed);
      Frame *d = nullptr;
      if (t + 1 < levels.size()) {
        try {
          d = take_frame(t + 1);
        } catch (const Error &e) {
          // Every slower frame pinned: the victim leaves memory from here, as from the
          // slowest level, rather than failing the pin.
          if (e.code() != -EBUSY) {
            attach(v, vid, false);
            throw;
          }
        } catch (...) {
          attach(v, vid, false);
          throw;
        }
      }
      if (d != nullptr) {
        if (tm_copy_mc(d->mem, v->mem, opt.page_size) != 0) {
          give_back(d);
          retire(v);
          continue;  // the victim's frame is gone: look for another
        }
        d->dirty.store(v->dirty.load(std::memory_order_relaxed), std::memory_order_relaxed);
        d->level_hits.store(0, std::memory_order_relaxed);
        attach(d, vid, false);
        demotions.fetch_add(1, std::memory_order_relaxed);
      } else {
        if (v->dirty.load(std::memory_order_relaxed) && !write_back(v)) continue;
        evictions.fetch_add(1, std::memory_order_relaxed);
      }
      v->dirty.store(false, std::memory_order_relaxed);
      v->level_hits.store(0, std::memory_order_relaxed);
      v->state = State::Free;
      return v;
    }
  }

  // A new page goes to the fastest level that has an unpinned frame.
  Frame *take_frame_for_miss() {
    for (std::size_t t = 0;; ++t) {
      try {
        return take_frame(t);
      } catch (const Error &e) {
        if (e.code() != -EBUSY || t + 1 == levels.size()) throw;
      }
    }
  }

  // Reads page id from storage into free frame f and attaches it pinned.
  Frame *load(Frame *f, PageId id) {
    int rc;
    try {
      rc = opt.read(id, std::span<std::byte>(f->mem, opt.page_size));
    } catch (...) {
      give_back(f);
      throw;
    }
    if (rc != 0) {
      give_back(f);
      int code = rc < 0 ? rc : -EIO;
      throw Error(code, "tiermem: buffer pool: reading page " + std::to_string(id) + " failed (" +
                            errno_text(code) + "); check the storage callback");
    }
    misses.fetch_add(1, std::memory_order_relaxed);
    f->dirty.store(false, std::memory_order_relaxed);
    f->level_hits.store(0, std::memory_order_relaxed);
    attach(f, id, true);
    return f;
  }

  // `old` is the word before this hit's add: a page on a slower level that nobody else pins
  // is promoted on its promote_after-th hit there.
  bool promotion_due(const Frame *f, std::uint64_t old) const {
    return f->level != 0 && (old & kPinMask) == 0 &&
           f->level_hits.load(std::memory_order_relaxed) + (old >> kHitShift) + 1 >=
               opt.promote_after;
  }

  // The hit path: no lock, one atomic add to pin, nothing shared written but the frame.
  Frame *pin(PageId id) {
    if (Frame *f = table->find(id)) {
      std::uint64_t old = f->word.fetch_add(1 + kHit, std::memory_order_acquire);
      if ((old & kAttached) != 0 && (old & kPinMask) < kMaxPins &&
          f->page.load(std::memory_order_relaxed) == id && !promotion_due(f, old)) {
        if (!f->ref->load(std::memory_order_relaxed)) f->ref->store(true, std::memory_order_relaxed);
        return f;
      }
      f->word.fetch_sub(1 + kHit, std::memory_order_relaxed);
    }
    return pin_locked(id);
  }

  // Miss, promotion, page on the move, or a lookup that raced with the table's writer.
  [[gnu::noinline]] Frame *pin_locked(PageId id) {
    std::lock_guard pg(pool_mu);
    Frame *f = table->find(id);  // exact: the table's writers hold pool_mu
    if (f == nullptr) return load(take_frame_for_miss(), id);
    std::uint64_t old = f->word.fetch_add(1 + kHit, std::memory_order_acquire);
    if ((old & kPinMask) >= kMaxPins) {
      f->word.fetch_sub(1 + kHit, std::memory_order_relaxed);
      throw Error(-EOVERFLOW, "tiermem: buffer pool: page " + std::to_string(id) + " is pinned " +
                                  std::to_string(old & kPinMask) +
                                  " times, the most a page can be; unpin it first");
    }
    f->ref->store(true, std::memory_order_relaxed);
    if (!promotion_due(f, old)) return f;

    // Promote f one level up. The hit stays counted on f's level; the pin is given back so that
    // the page can be detached (a pin taken meanwhile keeps it where it is).
    f->word.fetch_sub(1, std::memory_order_release);
    if (!detach(f)) {
      f->word.fetch_add(1, std::memory_order_acquire);
      return f;
    }
    Frame *d;
    try {
      d = take_frame(f->level - 1);
    } catch (...) {  // promotion is opportunistic: when that level cannot make room, serve here
      f->level_hits.store(0, std::memory_order_relaxed);
      attach(f, id, true);
      return f;
    }
    if (tm_copy_mc(d->mem, f->mem, opt.page_size) != 0) {
      bool was_dirty = f->dirty.load(std::memory_order_relaxed);
      retire(f);
      if (!was_dirty) return load(d, id);  // clean: reloaded from storage, invisibly
      give_back(d);
      throw Error(-EHWPOISON, "tiermem: buffer pool: dirty page " + std::to_string(id) +
                                  " was lost to a memory error in its frame (reported to "
                                  "on_lost); pin it again to read the stored version");
    }
    d->dirty.store(f->dirty.load(std::memory_order_relaxed), std::memory_order_relaxed);
    d->level_hits.store(0, std::memory_order_relaxed);
    give_back(f);
    attach(d, id, true);
    promotions.fetch_add(1, std::memory_order_relaxed);
    return d;
  }

  // The frame pinned for page `id`, found without the lock when possible.
  Frame *pinned_frame(PageId id) {
    Frame *f = table->find(id);
    if (f != nullptr && f->page.load(std::memory_order_relaxed) == id) return f;
    std::lock_guard pg(pool_mu);
    return table->find(id);
  }

  // A read's fast path (see the top of the file): up to 16 bytes of a page filed on the
  // fastest level, copied inline without a pin under its page-table slot's sequence lock. It
  // calls nothing, so it saves no registers. The copy comes from the memory the slot names and
  // is validated afterwards; a stale or torn slot names some frame's memory (frames keep
  // theirs for the pool's life) and fails the validation. False sends the read to
  // read_general(): a range error, a longer copy, poison on record, the page elsewhere or
  // missing, its slot changed under the copy, or the copy failed.
  [[gnu::always_inline]] bool read_fast(PageId id, std::size_t off, std::byte *dst,
                                        std::size_t n) {
    if (n > api::kSmallCopy || off > opt.page_size - n) return false;
    auto snap = table->snapshot(id);
    if (snap.slot == nullptr || (snap.meta & kFastLevel) == 0) return false;
    if (!api::copy_small_mc(dst, snap.mem + off, n) || !PageTable<Frame>::unchanged(snap))
      return false;
    note_fast_read(snap.meta);
    return true;
  }

  // A pin-less read's hit on the fastest level: CLOCK's bit (a store only when clear) and the
  // reader's stripe of the hit count.
  [[gnu::always_inline]] void note_fast_read(std::uint32_t meta) {
    std::atomic<bool> &ref = fast_refs[meta & kIndexMask];
    if (!ref.load(std::memory_order_relaxed)) ref.store(true, std::memory_order_relaxed);
    count_read_hit(read_hits.get());
  }

  // Every other read: the same pin-less copy through the copy routine, else under a pin.
  [[gnu::noinline]] void read_general(PageId id, std::size_t off, std::byte *dst, std::size_t n) {
    if (off > opt.page_size || n > opt.page_size - off) throw_read_range(id, off, n);
    auto snap = table->snapshot(id);
    if (snap.slot != nullptr && (snap.meta & kFastLevel) != 0 &&
        api::copy_mc(dst, snap.mem + off, n) == 0 && PageTable<Frame>::unchanged(snap)) {
      note_fast_read(snap.meta);
      return;
    }
    read_pinned(id, off, dst, n);
  }

  [[noreturn, gnu::cold, gnu::noinline]] void throw_read_range(PageId id, std::size_t offset,
                                                              std::size_t n) const {
    throw Error(-EINVAL, "tiermem: buffer pool: reading " + std::to_string(n) +
                             " bytes at offset " + std::to_string(offset) + " of page " +
                             std::to_string(id) + " runs past the page's " +
                             std::to_string(opt.page_size) +
                             " bytes; keep offset + size within the page");
  }

  // A read under a pin: a miss, a slower level (its hits decide promotions), a page on the
  // move, or a memory error in the frame. A clean page in a failed frame is reloaded into
  // another frame, invisibly; a dirty one is reported lost.
  [[gnu::noinline]] void read_pinned(PageId id, std::size_t off, std::byte *dst, std::size_t n) {
    constexpr int kAttempts = 8;  // each failed attempt retires one frame
    for (int attempt = 1;; ++attempt) {
      Frame *f = pin(id);
      std::size_t left = tm_copy_mc(dst, f->mem + off, n);
      if (left != 0 && tm_verify_mc(f->mem + off, n) == 0) {
        f->word.fetch_sub(1, std::memory_order_release);
        throw Error(-EHWPOISON, "tiermem: buffer pool: the buffer given to read page " +
                                    std::to_string(id) +
                                    " has a memory error; read into another buffer");
      }
      f->word.fetch_sub(1, std::memory_order_release);
      if (left == 0) return;
      std::lock_guard pg(pool_mu);
      if (table->find(id) != f) continue;  // another thread retired it meanwhile
      if (!detach(f))
        throw Error(-EHWPOISON, "tiermem: buffer pool: page " + std::to_string(id) +
                                    " sits in a frame with a memory error and is pinned; "
                                    "release its pins, then read it again");
      bool dirty = f->dirty.load(std::memory_order_relaxed);
      retire(f);  // reports a dirty page to on_lost
      if (dirty)
        throw Error(-EHWPOISON, "tiermem: buffer pool: dirty page " + std::to_string(id) +
                                    " was lost to a memory error in its frame (reported to "
                                    "on_lost); read it again to get the stored version");
      if (attempt == kAttempts)
        throw Error(-EHWPOISON, "tiermem: buffer pool: page " + std::to_string(id) + " met a "
                                "memory error in " + std::to_string(kAttempts) +
                                " frames in a row; check the tier's memory (tiermem scrub)");
    }
  }

  void flush() {
    std::lock_guard pg(pool_mu);
    for (auto &tp : levels) {
      Level &L = *tp;
      for (std::size_t i = 0; i < L.allocated; ++i) {
        Frame *f = &L.frames[i];
        if (f->state != State::Used || !f->dirty.load(std::memory_order_relaxed)) continue;
        if (!detach(f)) continue;  // pinned: its user may still be writing
        if (write_back(f)) attach(f, f->page.load(std::memory_order_relaxed), false);
      }
    }
  }

  // Hits on level t so far (pool mutex held). Moves each unpinned frame's counted hits out of
  // its word, so that no word counts long enough to wrap.
  std::uint64_t level_hit_count(Level &L) {
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < L.allocated; ++i) {
      Frame &f = L.frames[i];
      if (f.state == State::Used) {
        std::uint64_t w = f.word.load(std::memory_order_relaxed);
        if ((w & kPinMask) == 0 &&
            f.word.compare_exchange_strong(w, w & (kAttached | kPinMask),
                                           std::memory_order_relaxed)) {
          f.hits += w >> kHitShift;
          f.level_hits.fetch_add(w >> kHitShift, std::memory_order_relaxed);
          w &= kAttached | kPinMask;
        }
        sum += w >> kHitShift;  // a pinned frame's count, read without moving it
      }
      sum += f.hits;
    }
    return sum;
  }
};

// --- construction ---

BufferPool::BufferPool(Options options) : impl_(std::make_unique<Impl>()) {
  Impl &m = *impl_;
  std::size_t ps = options.page_size;
  if (ps < 4096 || ps > 65536 || !std::has_single_bit(ps))
    throw Error(-EINVAL, "tiermem: buffer pool: page size " + std::to_string(ps) +
                             " is not a power of two from 4096 to 65536; pick e.g. 8192");
  if (options.tiers.empty())
    throw Error(-EINVAL, "tiermem: buffer pool: no tier given; name at least one, e.g. rank:0");
  if (!options.read)
    throw Error(-EINVAL, "tiermem: buffer pool: no read callback; the pool needs one to load pages");
  if (options.promote_after == 0)
    throw Error(-EINVAL, "tiermem: buffer pool: promote_after is 0; use 1 or more hits");
  for (const TierCapacity &tc : options.tiers) {
    tm_tier *t = tm_tier_find(tc.spec.c_str());
    if (t == nullptr) {
      int code = errno ? -errno : -ENOENT;
      throw Error(code, tm_last_error());
    }
    auto level = std::make_unique<Level>();
    level->tier = t;
    level->name = tm_tier_name(t);
    for (auto &other : m.levels)
      if (other->tier == t)
        throw Error(-EINVAL, "tiermem: buffer pool: tier " + level->name +
                                 " is listed twice; give each tier once with its whole capacity");
    level->nframes = tc.capacity / ps;
    if (level->nframes == 0)
      throw Error(-EINVAL, "tiermem: buffer pool: capacity " + bytes_text(tc.capacity) + " of tier " +
                               level->name + " holds no page of " + bytes_text(ps) +
                               "; give it at least one page");
    tm_tier_stats st{};
    if (tm_tier_stats_get(t, &st) == 0 && st.capacity != 0 && tc.capacity > st.capacity)
      throw Error(-ENOMEM, "tiermem: buffer pool: capacity " + bytes_text(tc.capacity) +
                               " does not fit tier " + level->name + " (" +
                               bytes_text(st.capacity) + "); lower the capacity");
    if (level->nframes > kIndexMask)
      throw Error(-EINVAL, "tiermem: buffer pool: capacity " + bytes_text(tc.capacity) + " of tier " +
                               level->name + " holds more than " + std::to_string(kIndexMask) +
                               " pages; use larger pages or a smaller capacity");
    level->frames = std::make_unique<Frame[]>(level->nframes);
    level->refs = std::make_unique<std::atomic<bool>[]>(level->nframes);
    for (std::size_t i = 0; i < level->nframes; ++i) {
      level->frames[i].ref = &level->refs[i];
      level->frames[i].index = static_cast<std::uint32_t>(i);
    }
    m.levels.push_back(std::move(level));
  }
  std::size_t frames = 0;
  for (auto &level : m.levels) frames += level->nframes;
  m.table.emplace(frames);
  m.fast_refs = m.levels[0]->refs.get();
  // The inline copy of read()'s fast path needs the SIGBUS handler in place.
  if (int rc = tm_safety_init(); rc != 0)
    throw Error(rc, std::string("tiermem: buffer pool: ") + tm_last_error());
  m.opt = std::move(options);
  m.bounce.resize(ps);
}

BufferPool::~BufferPool() {
  try {
    impl_->flush();
  } catch (...) {
    // Documented: the destructor cannot report storage errors; flush() first to see them.
  }
  for (auto &tp : impl_->levels)
    for (std::size_t i = 0; i < tp->allocated; ++i)
      if (tp->frames[i].state != State::Retired) tm_free(tp->frames[i].mem);
}

// --- pins ---

BufferPool::Pin BufferPool::pin(PageId id) { return Pin(this, impl_->pin(id), id); }

std::byte *BufferPool::pin_raw(PageId id) { return impl_->pin(id)->mem; }

void BufferPool::unpin(PageId id, bool dirty) {
  Frame *f = impl_->pinned_frame(id);
  std::uint64_t w = f != nullptr ? f->word.load(std::memory_order_relaxed) : 0;
  do {
    if (f == nullptr || (w & kAttached) == 0 || (w & kPinMask) == 0 ||
        f->page.load(std::memory_order_relaxed) != id)
      throw Error(-EINVAL, "tiermem: buffer pool: page " + std::to_string(id) +
                               " is not pinned; unpin only pages pin returned, once each");
    if (dirty) f->dirty.store(true, std::memory_order_relaxed);
  } while (!f->word.compare_exchange_weak(w, w - 1, std::memory_order_release,
                                          std::memory_order_relaxed));
}

std::span<std::byte> BufferPool::Pin::data() const noexcept {
  return {static_cast<Frame *>(frame_)->mem, pool_->impl_->opt.page_size};
}

void BufferPool::Pin::mark_dirty() noexcept {
  static_cast<Frame *>(frame_)->dirty.store(true, std::memory_order_relaxed);
}

void BufferPool::Pin::release(bool dirty) noexcept {
  if (pool_ == nullptr) return;
  Frame *f = static_cast<Frame *>(frame_);
  if (dirty) f->dirty.store(true, std::memory_order_relaxed);
  f->word.fetch_sub(1, std::memory_order_release);
  pool_ = nullptr;
}

void BufferPool::read(PageId id, std::size_t offset, std::span<std::byte> out) {
  Impl &m = *impl_;
  if (!m.read_fast(id, offset, out.data(), out.size())) [[unlikely]]
    m.read_general(id, offset, out.data(), out.size());
}

void BufferPool::flush() { impl_->flush(); }

std::size_t BufferPool::page_size() const noexcept { return impl_->opt.page_size; }

BufferPool::Stats BufferPool::stats() const {
  Impl &m = *impl_;
  std::lock_guard pg(m.pool_mu);
  Stats st;
  for (auto &tp : m.levels)
    st.tiers.push_back({tp->name, tp->nframes, tp->allocated - tp->free.size() - tp->retired,
                        m.level_hit_count(*tp)});
  for (unsigned i = 0; i <= kReadStripes; ++i)  // pin-less reads: the fastest level's
    st.tiers[0].hits += m.read_hits[i].hits.load(std::memory_order_relaxed);
  st.misses = m.misses.load();
  st.promotions = m.promotions.load();
  st.demotions = m.demotions.load();
  st.evictions = m.evictions.load();
  st.writebacks = m.writebacks.load();
  st.retired = m.retired.load();
  st.lost = m.lost.load();
  return st;
}

}  // namespace tiermem

// The buffer pool's page table: page id -> frame, open addressing with linear probing over
// atomic slots. One writer at a time (the caller serialises insert/erase: the pool mutex);
// readers never lock. A reader may see a slot half rewritten or miss an entry that a
// concurrent erase is shifting back; that is allowed because a lookup without the writer's
// lock is only a hint: the caller validates the frame it gets (the frame's own state word and
// page id are the truth) and falls back to a locked lookup when it finds nothing.
//
// A slot also holds the frame's memory (`Frame::mem`, fixed once the frame has memory), so that
// a hit can load the page's bytes without first waiting for the frame's cache line: on a pool
// larger than the caches that is one dependent miss less. A reader that takes `mem` from a
// slot checks it against the frame's own (a slot may be seen half rewritten).
#pragma once
#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <memory>

namespace tiermem::bufferpool_detail {

template <class Frame>
class PageTable {
 public:
  /** Room for `entries` pages at a load factor of at most 1/2. */
  explicit PageTable(std::size_t entries)
      : bits_(static_cast<unsigned>(std::bit_width(std::max<std::size_t>(entries * 2, 16) - 1))),
        mask_((std::size_t{1} << bits_) - 1),
        slots_(std::make_unique<Slot[]>(mask_ + 1)) {}

  /** The frame filed under `id`, or null. Exact under the writer's lock, a hint without. */
  Frame *find(std::uint64_t id) const noexcept { return lookup(id).frame; }

  struct Entry {
    Frame *frame;     // null: not found
    std::byte *mem;   // the frame's memory as the slot holds it (check it against frame->mem)
  };
  /** find() with the frame's memory, read from the slot. */
  Entry lookup(std::uint64_t id) const noexcept {
    for (std::size_t i = home(id);; i = (i + 1) & mask_) {
      Frame *f = slots_[i].frame.load(std::memory_order_acquire);
      if (f == nullptr) return {nullptr, nullptr};
      if (slots_[i].key.load(std::memory_order_relaxed) == id)
        return {f, slots_[i].mem.load(std::memory_order_relaxed)};
    }
  }

  /** Files `f` under `id`, which must not be in the table (writer's lock held). */
  void insert(std::uint64_t id, Frame *f) noexcept {
    std::size_t i = home(id);
    while (slots_[i].frame.load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
    slots_[i].key.store(id, std::memory_order_relaxed);
    slots_[i].mem.store(f->mem, std::memory_order_relaxed);
    slots_[i].frame.store(f, std::memory_order_release);
  }

  /** Removes `id` if present (writer's lock held). Backward-shift deletion: the entries of
   *  the cluster after it move up so that no tombstone is left to lengthen later probes. */
  void erase(std::uint64_t id) noexcept {
    std::size_t i = home(id);
    for (;; i = (i + 1) & mask_) {
      if (slots_[i].frame.load(std::memory_order_relaxed) == nullptr) return;
      if (slots_[i].key.load(std::memory_order_relaxed) == id) break;
    }
    for (std::size_t j = i;;) {
      j = (j + 1) & mask_;
      Frame *f = slots_[j].frame.load(std::memory_order_relaxed);
      if (f == nullptr) break;
      std::uint64_t key = slots_[j].key.load(std::memory_order_relaxed);
      std::size_t h = home(key);
      // The entry at j may fill the hole at i only if its home is not cyclically in (i, j].
      bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      slots_[i].key.store(key, std::memory_order_relaxed);
      slots_[i].mem.store(slots_[j].mem.load(std::memory_order_relaxed), std::memory_order_relaxed);
      slots_[i].frame.store(f, std::memory_order_release);
      i = j;
    }
    slots_[i].frame.store(nullptr, std::memory_order_release);
  }

 private:
  struct alignas(32) Slot {  // two a cache line, never one across two
    std::atomic<std::uint64_t> key{0};
    std::atomic<Frame *> frame{nullptr};
    std::atomic<std::byte *> mem{nullptr};
  };

  // A page's home slot. Databases number pages densely (per file, the file often in the high
  // bits). The bits above the table's are first folded into the low ones (multiplied, so that
  // ids a power of two apart and file numbers differ there too); the sum is then multiplied
  // by an odd constant, which permutes the low bits: a dense run of ids as long as the table
  // takes distinct slots, scattered rather than side by side, so a hit on a pool's dense ids
  // never probes, and other keys do not meet one long cluster. (A multiplicative hash of the
  // whole id put a third of a dense run off its home: the probe's branch then mispredicted
  // on those hits, which on a pool larger than the caches cost more than the lookup's misses.
  // The id itself as the slot, like std::unordered_map's, made a dense run one cluster that
  // any other key had to probe across.)
  std::size_t home(std::uint64_t id) const noexcept {
    std::uint64_t folded = id + (id >> bits_) * 0xC2B2AE3D27D4EB4Full;
    return static_cast<std::size_t>(folded * 0x9E3779B97F4A7C15ull) & mask_;
  }

 public:
  /** Slots between `id`'s home and the slot holding it (for tests); `id` must be present. */
  std::size_t displacement(std::uint64_t id) const noexcept {
    std::size_t d = 0;
    for (std::size_t i = home(id); slots_[i].key.load(std::memory_order_relaxed) != id ||
                                   slots_[i].frame.load(std::memory_order_relaxed) == nullptr;
         i = (i + 1) & mask_)
      ++d;
    return d;
  }

 private:
  unsigned bits_;
  std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace tiermem::bufferpool_detail

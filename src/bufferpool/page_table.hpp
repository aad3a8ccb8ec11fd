// The buffer pool's page table: page id -> frame, open addressing with linear probing over
// atomic slots. One writer at a time (the caller serialises insert/erase: the pool mutex);
// readers never lock. A reader may see a slot half rewritten or miss an entry that a
// concurrent erase is shifting back; that is allowed because a lookup without the writer's
// lock is only a hint: the caller validates the frame it gets (the frame's own state word and
// page id are the truth) and falls back to a locked lookup when it finds nothing.
//
// A slot also holds what a pin-less read needs, so that a hit touches the slot's cache line
// and the page's, not the frame's: the frame's memory (fixed once the frame has memory, and
// never freed while the pool lives) and a word of the caller's (`meta`). Each slot is its own
// sequence lock: the writer makes `seq` odd, rewrites the slot, and makes it even again. A
// reader takes a snapshot (seq, then the fields), uses it, and asks unchanged(): an even seq
// that did not move means the fields were one entry's and the entry stayed filed while the
// reader used them. The pool erases a page's entry before it reuses or rewrites the page's
// frame, so bytes copied out of `mem` under an unchanged snapshot are the page's.
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
  Frame *find(std::uint64_t id) const noexcept {
    for (std::size_t i = home(id);; i = (i + 1) & mask_) {
      Frame *f = slots_[i].frame.load(std::memory_order_acquire);
      if (f == nullptr) return nullptr;
      if (slots_[i].key.load(std::memory_order_relaxed) == id) return f;
    }
  }

 private:
  struct alignas(32) Slot {  // two a cache line, never one across two
    std::atomic<std::uint64_t> key{0};
    std::atomic<Frame *> frame{nullptr};    // null: empty
    std::atomic<std::byte *> mem{nullptr};  // the frame's; left behind when the slot empties
    std::atomic<std::uint32_t> seq{0};      // odd while the writer rewrites the slot
    std::atomic<std::uint32_t> meta{0};
  };

 public:
  /** What a slot held for `id`; `slot` is null when `id` was not found (or its slot was
   *  being rewritten: the caller then takes its locked path). */
  struct Snapshot {
    const Slot *slot = nullptr;
    std::uint32_t seq = 0;
    std::byte *mem = nullptr;
    std::uint32_t meta = 0;
  };
  Snapshot snapshot(std::uint64_t id) const noexcept {
    for (std::size_t i = home(id);; i = (i + 1) & mask_) {
      const Slot &s = slots_[i];
      std::uint32_t q = s.seq.load(std::memory_order_acquire);
      // Acquire: a slot seen filled is seen with a memory (stored before the frame).
      if (s.frame.load(std::memory_order_acquire) == nullptr) return {};
      if (s.key.load(std::memory_order_relaxed) == id)
        return {&s, q, s.mem.load(std::memory_order_relaxed),
                s.meta.load(std::memory_order_relaxed)};
    }
  }
  /** True when the snapshot's slot did not change since it was taken: what was read in
   *  between (the slot's fields, the bytes at its `mem`) belongs to the snapshot's entry. */
  static bool unchanged(const Snapshot &s) noexcept {
    std::atomic_thread_fence(std::memory_order_acquire);
    return (s.seq & 1) == 0 && s.slot->seq.load(std::memory_order_relaxed) == s.seq;
  }

  /** Files `f` under `id`, which must not be in the table (writer's lock held). */
  void insert(std::uint64_t id, Frame *f, std::uint32_t meta = 0) noexcept {
    std::size_t i = home(id);
    while (slots_[i].frame.load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
    write(slots_[i], id, f, f->mem, meta);
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
      const Slot &from = slots_[j];
      Frame *f = from.frame.load(std::memory_order_relaxed);
      if (f == nullptr) break;
      std::uint64_t key = from.key.load(std::memory_order_relaxed);
      std::size_t h = home(key);
      // The entry at j may fill the hole at i only if its home is not cyclically in (i, j].
      bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (stays) continue;
      write(slots_[i], key, f, from.mem.load(std::memory_order_relaxed),
            from.meta.load(std::memory_order_relaxed));
      i = j;
    }
    Slot &s = slots_[i];
    write(s, s.key.load(std::memory_order_relaxed), nullptr,
          s.mem.load(std::memory_order_relaxed), 0);
  }

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
  // One entry into a slot under its sequence lock (writer's lock held). `mem` is never null
  // once written: a reader may copy from a stale one, which must stay valid memory.
  static void write(Slot &s, std::uint64_t key, Frame *f, std::byte *mem,
                    std::uint32_t meta) noexcept {
    std::uint32_t q = s.seq.load(std::memory_order_relaxed);
    s.seq.store(q + 1, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_release);
    s.key.store(key, std::memory_order_relaxed);
    s.mem.store(mem, std::memory_order_relaxed);
    s.meta.store(meta, std::memory_order_relaxed);
    s.frame.store(f, std::memory_order_release);
    s.seq.store(q + 2, std::memory_order_release);
  }

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

  unsigned bits_;
  std::size_t mask_;
  std::unique_ptr<Slot[]> slots_;
};

}  // namespace tiermem::bufferpool_detail

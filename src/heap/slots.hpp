// The heap's address space: one PROT_NONE, MAP_NORESERVE reservation cut into equal,
// power-of-two slots, one slot per tier. Every byte a tier ever hands out lies in its slot,
// so "which tier owns p" is a subtraction, a compare and a shift — no lock, no syscall, no
// mallctl lookup — and a pointer outside the reservation is recognisably foreign.
#pragma once
#include <atomic>
#include <cstddef>
#include <cstdint>

struct tm_tier;

namespace tiermem::heap {

inline constexpr unsigned kMaxSlots = 64;
/** The largest slot, 4 TiB: the largest tier the heap holds (TIERMEM_EMULATE's cap). */
inline constexpr unsigned kMaxSlotShift = 42;

/** Published once by reserve(); read on every tm_free / tm_tier_of. */
struct SlotTable {
  std::atomic<std::uintptr_t> base{0};
  std::atomic<std::uintptr_t> span{0};  // 0 until reserved: every pointer is foreign
  std::atomic<unsigned> shift{63};
  std::atomic<tm_tier *> tier[kMaxSlots]{};
};
extern SlotTable g_slots;

/** The slot `p` lies in; false for a pointer outside the reservation. */
inline bool slot_of(const void *p, unsigned &slot) noexcept {
  std::uintptr_t span = g_slots.span.load(std::memory_order_acquire);  // published last
  std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) -
                       g_slots.base.load(std::memory_order_relaxed);
  if (off >= span) return false;
  slot = static_cast<unsigned>(off >> g_slots.shift.load(std::memory_order_relaxed));
  return true;
}

/** The tier owning `p`, or nullptr for a pointer tiermem never gave out. */
inline tm_tier *slot_owner(const void *p) noexcept {
  std::uintptr_t span = g_slots.span.load(std::memory_order_acquire);  // published last
  std::uintptr_t off = reinterpret_cast<std::uintptr_t>(p) -
                       g_slots.base.load(std::memory_order_relaxed);
  if (off >= span) return nullptr;
  return g_slots.tier[off >> g_slots.shift.load(std::memory_order_relaxed)].load(
      std::memory_order_acquire);
}

/**
 * Reserves `count` slots of 2^shift bytes, aligned to the slot size; where that much address
 * space is not available, fewer slots, then smaller ones (at least 4 x 1 GiB). Throws
 * tiermem::Error when even that is refused.
 */
void reserve_slots(unsigned count, unsigned shift, unsigned min_shift);

/**
 * Slot size for the largest tier: 64 GiB at least, grown to fit, total reservation <= 16 TiB.
 * `min_shift`: the smallest slot (a power of two, at least 1 GiB) that still holds the
 * largest tier, which reserve_slots() may fall back to before it takes fewer slots.
 */
void plan_slots(std::uint64_t largest_tier, unsigned &count, unsigned &shift,
                unsigned &min_shift) noexcept;

inline std::byte *slot_address(unsigned i) noexcept {
  return reinterpret_cast<std::byte *>(g_slots.base.load(std::memory_order_relaxed) +
                                       (static_cast<std::uintptr_t>(i)
                                        << g_slots.shift.load(std::memory_order_relaxed)));
}
inline std::size_t slot_size() noexcept {
  return std::size_t{1} << g_slots.shift.load(std::memory_order_relaxed);
}
/**
 * How far into slot `i` its tier's memory starts: (i mod 16) GiB, where the slot holds that
 * and `need` bytes after it (need 0, unknown: the whole slot); otherwise its start.
 *
 * Why: jemalloc 5.3 keeps per thread a 16-entry direct-mapped cache of its radix tree's
 * leaves, indexed by address bits 30-33 (a leaf covers 1 GiB), and free()'s fast path looks
 * only there; a miss takes free_default, jemalloc's slow path. Slots are aligned to their size
 * (64 GiB or more), so every tier began in the same entry, and a thread freeing blocks of two
 * tiers in turn missed it on nearly every free (bench_heap window_tiermem<2>, 64 B: 18.5% of
 * the time in free_default). Staggered, 16 tiers have an entry each. A multiple of 1 GiB
 * keeps a device mapping's alignment (at most 1 GiB). Slots under 16 GiB (a reservation cut
 * down by `ulimit -v` or a sanitizer) start at different entries anyway and are not moved.
 */
std::size_t tier_offset(unsigned i, std::uint64_t need) noexcept;
/** The most tier_offset() takes from a slot: the headroom plan_slots() gives the largest tier. */
inline constexpr std::uint64_t kMaxTierOffset = std::uint64_t{15} << 30;

inline unsigned slot_count() noexcept {
  return static_cast<unsigned>(g_slots.span.load(std::memory_order_relaxed) >>
                               g_slots.shift.load(std::memory_order_relaxed));
}

}  // namespace tiermem::heap

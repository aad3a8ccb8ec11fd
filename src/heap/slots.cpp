#include "heap/slots.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

#include "platform/raii.hpp"
#include "tiermem/error.hpp"

namespace tiermem::heap {

SlotTable g_slots;

void plan_slots(std::uint64_t largest_tier, unsigned &count, unsigned &shift,
                unsigned &min_shift) noexcept {
  constexpr unsigned kMaxShift = kMaxSlotShift;
  min_shift = 30;  // 1 GiB
  while (min_shift < kMaxShift && (std::uint64_t{1} << min_shift) < largest_tier) ++min_shift;
  // Preferably with room for tier_offset()'s stagger beside the largest tier.
  unsigned roomy = min_shift;
  while (roomy < kMaxShift && (std::uint64_t{1} << roomy) < largest_tier + kMaxTierOffset) ++roomy;
  shift = roomy > 36 ? roomy : 36;  // 64 GiB
  constexpr unsigned kTotalShift = 44;  // 16 TiB of address space at most
  count = kMaxSlots;
  while (count > 8 && (std::uint64_t{count} << shift) > (std::uint64_t{1} << kTotalShift)) {
    count /= 2;
  }
}

std::size_t tier_offset(unsigned i, std::uint64_t need) noexcept {
  constexpr unsigned kEntries = 16, kLeafShift = 30;  // jemalloc's rtree cache, see slots.hpp
  const std::size_t size = slot_size();
  if (need == 0 || size < (std::size_t{kEntries} << kLeafShift)) return 0;
  const std::size_t off = std::size_t{i % kEntries} << kLeafShift;
  return size - off >= need ? off : 0;
}

namespace {

platform::Mapping try_reserve(std::size_t bytes) {
  return platform::Mapping::map(nullptr, bytes, PROT_NONE,
                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
}

}  // namespace

void reserve_slots(unsigned count, unsigned shift, unsigned min_shift) {
  // Over-reserve by one slot and trim, so that the first slot starts on a slot boundary
  // (device-dax mappings must be aligned to the device's align, at most 1 GiB). Where the
  // address space is smaller (ulimit -v, sanitizer runtimes that own most of it), take smaller
  // slots while the largest tier still fits one, then fewer slots, then smaller ones again,
  // down to 4 slots of 1 GiB. Slots before size: a process runs out of slots (one a tier)
  // long before a tier outgrows a slot that fits the largest tier (under ThreadSanitizer, 8
  // slots of 64 GiB were all that was left of 64, and the heap tests open more tiers).
  const unsigned want_count = count, want_shift = shift;
  platform::Mapping reserved;
  for (;;) {
    std::size_t slot = std::size_t{1} << shift;
    reserved = try_reserve(slot * count + slot);
    if (reserved) break;
    if (shift > min_shift) {
      --shift;
    } else if (count > 4) {
      // An eighth fewer at a time, not half: under ThreadSanitizer on a 6.18 host, 32 slots of
      // 32 GiB did not fit and halving left 16, fewer than the heap tests' 18 tiers.
      count = std::max(4u, count - (count + 7) / 8);
    } else if (shift > 30) {
      --shift;
    } else {
      int err = errno;
      throw Error(-ENOMEM, "tiermem: cannot reserve address space for the tier slots (wanted " +
                               std::to_string(want_count) + " x " +
                               std::to_string((std::size_t{1} << want_shift) >> 30) +
                               " GiB, not even 4 x 1 GiB): " + std::strerror(err) +
                               "; check `ulimit -v`");
    }
  }
  std::size_t slot = std::size_t{1} << shift;
  std::size_t span = slot * count;
  // Kept for the life of the process (tiers are immortal); only the trim is unmapped.
  void *p = reserved.release().first;
  auto raw = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t base = (raw + slot - 1) & ~(static_cast<std::uintptr_t>(slot) - 1);
  if (base > raw) platform::Mapping(p, base - raw).reset();
  std::uintptr_t tail = raw + span + slot - (base + span);
  if (tail > 0) platform::Mapping(reinterpret_cast<void *>(base + span), tail).reset();
  g_slots.shift.store(shift, std::memory_order_relaxed);
  g_slots.base.store(base, std::memory_order_relaxed);
  g_slots.span.store(span, std::memory_order_release);
}

}  // namespace tiermem::heap

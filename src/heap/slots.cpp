#include "heap/slots.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tiermem/error.hpp"

namespace tiermem::heap {

SlotTable g_slots;

void plan_slots(std::uint64_t largest_tier, unsigned &count, unsigned &shift) noexcept {
  shift = 36;  // 64 GiB
  while (shift < 42 && (std::uint64_t{1} << shift) < largest_tier) ++shift;
  constexpr unsigned kTotalShift = 44;  // 16 TiB of address space at most
  count = kMaxSlots;
  while (count > 8 && (std::uint64_t{count} << shift) > (std::uint64_t{1} << kTotalShift)) {
    count /= 2;
  }
}

void reserve_slots(unsigned count, unsigned shift) {
  std::size_t slot = std::size_t{1} << shift;
  std::size_t span = slot * count;
  // Over-reserve by one slot and trim, so that the first slot starts on a slot boundary
  // (device-dax mappings must be aligned to the device's align, at most 1 GiB).
  void *p = ::mmap(nullptr, span + slot, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) {
    int err = errno;
    throw Error(-ENOMEM, "tiermem: cannot reserve " + std::to_string(span >> 30) +
                             " GiB of address space for the tier slots: " + std::strerror(err) +
                             "; check `ulimit -v`");
  }
  auto raw = reinterpret_cast<std::uintptr_t>(p);
  std::uintptr_t base = (raw + slot - 1) & ~(static_cast<std::uintptr_t>(slot) - 1);
  if (base > raw) ::munmap(p, base - raw);
  std::uintptr_t tail = raw + span + slot - (base + span);
  if (tail > 0) ::munmap(reinterpret_cast<void *>(base + span), tail);
  g_slots.shift.store(shift, std::memory_order_relaxed);
  g_slots.base.store(base, std::memory_order_relaxed);
  g_slots.span.store(span, std::memory_order_release);
}

}  // namespace tiermem::heap

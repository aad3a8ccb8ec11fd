// Write fences: ranges of memory whose writers wait while their pages are being moved, so that
// a move that copies a range and maps new memory over it never loses a store. A fenced range
// is read-only; a write into it faults (SIGSEGV, SEGV_ACCERR), the handler sees the fence and
// sleeps on it (futex) until the range is released, then returns, and the write is retried on
// the new memory. Readers are never stopped. Faults that are not a fence's pass to the
// program's own SIGSEGV disposition exactly as if tiermem were not installed.
#pragma once
#include <cstddef>
#include <cstdint>

namespace tiermem::migrate {

/** How many ranges can be fenced at once (one mover thread needs one or two). */
inline constexpr int kFenceSlots = 16;

/**
 * Makes [addr, addr + len) read-only and registers it as fenced. `addr` and `len` must be page
 * aligned. Installs the SIGSEGV handler on first use. Returns a slot (>= 0) to pass to
 * release_fence(), or -errno: -EBUSY when all slots are in use, -EINVAL for an unaligned
 * range, mprotect's error otherwise (then nothing is fenced).
 */
int fence(void *addr, std::size_t len) noexcept;

/**
 * Ends fence `slot`: its writers wake and retry. The caller has already made the range
 * writable again (a mapping put over it with PROT_READ|PROT_WRITE, or mprotect).
 */
void release_fence(int slot) noexcept;

/** Writes that waited on a fence since the process started (for statistics and tests). */
std::uint64_t fenced_writes() noexcept;

}  // namespace tiermem::migrate

// tm_copy_mc() inline, for the front ends' hot paths that copy a few bytes (the buffer pool's
// pin-less read): through tm_copy_mc() a hit made three calls, which cost more than copying
// a field and, on a pool larger than the caches, fill the window in which the CPU overlaps
// the misses of successive hits. Same contract as tm_copy_mc(): returns the bytes not copied.
#pragma once
#include <cstddef>

#include "safety/copy_mc.hpp"
#include "safety/sigbus.hpp"
#include "tiermem/tiermem.h"

namespace tiermem::api {

[[gnu::always_inline]] inline std::size_t copy_mc(void *dst, const void *src, std::size_t n) noexcept {
  if (!safety::handler_installed()) [[unlikely]]
    return tm_copy_mc(dst, src, n);  // installs the handler first
  // Up to 16 bytes inline; a fault or a poison on record takes the routine, which reports
  // exactly how far it got.
  if (n <= safety::kSmallCopy && safety::copy_small_mc(dst, src, n)) return 0;
  return safety::copy_mc_with(safety::active_copy_routine(), dst, src, n);
}

inline constexpr std::size_t kSmallCopy = safety::kSmallCopy;

/** safety::copy_small_mc(): up to kSmallCopy bytes inline, false when they must go through
 *  copy_mc() (a fault, poison on record). The caller must have installed the handler
 *  (tm_safety_init()). */
[[gnu::always_inline]] inline bool copy_small_mc(void *dst, const void *src, std::size_t n) noexcept {
  return safety::copy_small_mc(dst, src, n);
}

}  // namespace tiermem::api

// The copy entry points the api offers as tm_copy_mc(), tm_verify_mc() and tm_memcmp_mc().
// Apart from copy_mc.cpp, whose code runs in the SIGBUS handler and is checked to call only
// async-signal-safe functions: these run in normal code (memcmp, the lazy install).
#include <cstring>

#include "safety/copy_mc.hpp"
#include "safety/sigbus.hpp"

namespace tiermem::safety {

namespace {
// Bounce-buffer size for the read-only variants: small enough for any thread's stack,
// large enough that the copy loop, not the call, dominates.
constexpr std::size_t kChunk = 4096;
}  // namespace

std::size_t copy_mc(void *dst, const void *src, std::size_t n) noexcept {
  // Lazy first install only: re-checking the kernel on every call would cost a syscall.
  if (!handler_installed()) install_handler();
  return copy_mc_with(active_copy_routine(), dst, src, n);
}

std::size_t verify_mc(const void *src, std::size_t n) noexcept {
  alignas(64) unsigned char buf[kChunk];
  const auto *p = static_cast<const unsigned char *>(src);
  for (std::size_t off = 0; off < n; off += kChunk) {
    std::size_t c = n - off < kChunk ? n - off : kChunk;
    std::size_t left = copy_mc(buf, p + off, c);
    if (left) return n - off - (c - left);
  }
  return 0;
}

std::size_t memcmp_mc(const void *a, const void *b, std::size_t n, int *result) noexcept {
  constexpr std::size_t half = kChunk / 2;
  alignas(64) unsigned char ba[half];
  alignas(64) unsigned char bb[half];
  const auto *pa = static_cast<const unsigned char *>(a);
  const auto *pb = static_cast<const unsigned char *>(b);
  int r = 0;
  std::size_t off = 0;
  for (; off < n; off += half) {
    std::size_t c = n - off < half ? n - off : half;
    std::size_t good_a = c - copy_mc(ba, pa + off, c);
    std::size_t good_b = c - copy_mc(bb, pb + off, c);
    std::size_t good = good_a < good_b ? good_a : good_b;
    r = std::memcmp(ba, bb, good);
    if (r != 0) break;
    if (good < c) {
      if (result) *result = 0;
      return n - off - good;
    }
  }
  if (result) *result = r < 0 ? -1 : (r > 0 ? 1 : 0);
  return 0;
}

}  // namespace tiermem::safety

// Shared by the real-poison probes (poison_probe.cpp, poison_heap_probe.cpp,
// poison_sweep_probe.cpp), each its own
// program: the program's own SIGBUS handler, a tm_on_poison callback that records its last
// call, the heap probes' block patterns, and the "ok:"/"FAIL:" check lines the VM scenarios
// read.
#pragma once
#include <setjmp.h>
#include <signal.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "tiermem/tiermem.h"

namespace tiermem::test {

inline sigjmp_buf recover;
inline volatile sig_atomic_t armed = 0;
inline volatile int seen_code = 0, seen_lsb = -1, seen_count = 0;
inline void *volatile seen_addr = nullptr;

// The program's own SIGBUS handler, installed before tiermem's: tiermem forwards to it every
// SIGBUS it does not resolve itself. Armed, it jumps back to `recover`; else the probe exits 3.
inline void program_handler(int, siginfo_t *si, void *) {
  seen_code = si->si_code;
  seen_lsb = si->si_addr_lsb;
  seen_addr = si->si_addr;
  seen_count = seen_count + 1;
  if (armed) {
    armed = 0;
    siglongjmp(recover, 1);
  }
  _exit(3);
}

inline void install_program_handler() {
  struct sigaction sa {};
  sa.sa_sigaction = program_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
}

inline volatile int cb_count = 0, cb_tier = -2;
inline void *volatile cb_ptr = nullptr;
inline volatile std::size_t cb_size = 0, cb_offset = 0;
inline void on_poison(void *ptr, std::size_t size, int tier, std::size_t offset, void *) {
  cb_ptr = ptr;
  cb_size = size;
  cb_tier = tier;
  cb_offset = offset;
  cb_count = cb_count + 1;
}

// The byte at offset i of the block filled with `seed`.
inline unsigned char pattern(std::size_t seed, std::size_t i) {
  return static_cast<unsigned char>(i * 7 + seed * 31 + (i >> 12));
}

// A heap probe's block: `n` bytes at `p`, filled with pattern(seed, i).
struct Block {
  unsigned char *p;
  std::size_t n;
  std::size_t seed;
};

inline void fill(const Block &b) {
  for (std::size_t i = 0; i < b.n; ++i) b.p[i] = pattern(b.seed, i);
}

inline bool intact(const Block &b) {
  for (std::size_t i = 0; i < b.n; ++i) {
    if (b.p[i] != pattern(b.seed, i)) return false;
  }
  return true;
}

inline bool overlaps(std::uintptr_t a, std::size_t an, std::uintptr_t b, std::size_t bn) {
  return a < b + bn && b < a + an;
}

inline tm_tier_stats stats(tm_tier *t) {
  tm_tier_stats s{};
  tm_tier_stats_get(t, &s);
  return s;
}

inline int failures = 0;
inline void check(bool ok, const std::string &what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

}  // namespace tiermem::test

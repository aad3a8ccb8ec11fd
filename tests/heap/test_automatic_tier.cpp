// Which tier gets a thread's automatic jemalloc tcache (jemalloc's fastest path: plain
// malloc/free), and the byte counting of that tier, whose plain calls note nothing
// (src/heap/heap.hpp, t_je_other; src/heap/tcache.cpp).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "heap/heap.hpp"
#include "tiermem/tiermem.h"

namespace {

tm_tier *tier(const char *spec) {
  tm_tier *t = tm_tier_find(spec);
  INFO(spec);
  REQUIRE(t != nullptr);
  return t;
}

// The slot + 1 of this thread's bound tier (0: none), read on the thread that asks.
unsigned bound() { return tiermem::heap::t_bound; }

tm_tier_stats stats_of(tm_tier *t) {
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  return s;
}

constexpr std::uint64_t kFoldStep = 64 << 10;

}  // namespace

TEST_CASE("a thread's first small block, not its first large one or its first free, picks its fast tier") {
  tm_tier *slow = tier("emulated:slow"), *side = tier("emulated:side");
  void *from_main = tm_malloc(side, 100);
  REQUIRE(from_main != nullptr);
  unsigned after_large = 99, after_free = 99, after_small = 99;
  bool landed = true;
  std::thread([&] {
    // A large block first (libstdc++'s emergency pool is the first block of many programs),
    // then a free of a block another thread allocated: neither takes the automatic tcache.
    void *big = tm_malloc(slow, 1 << 16);
    after_large = bound();
    tm_free(from_main);
    after_free = bound();
    std::vector<void *> small;
    for (int i = 0; i < 1000; ++i) small.push_back(tm_malloc(side, 64));
    after_small = bound();
    for (void *p : small) landed &= p != nullptr && tm_tier_of(p) == side;
    for (void *p : small) tm_free(p);
    landed &= big != nullptr && tm_tier_of(big) == slow;
    tm_free(big);
  }).join();
  CHECK(after_large == 0);
  CHECK(after_free == 0);
  CHECK(after_small == side->slot + 1);
  CHECK(landed);
}

TEST_CASE("a tier used first for a large block becomes the fast one at its first small block") {
  tm_tier *slow = tier("emulated:slow");
  bool ok = true;
  unsigned before = 99, after = 99;
  std::thread([&] {
    void *big = tm_malloc(slow, 1 << 16);  // an explicit tcache for the tier, for now
    std::vector<void *> held;
    for (int i = 0; i < 200; ++i) tm_free(tm_malloc(slow, 1 << 15));  // cached in it
    before = bound();
    for (int i = 0; i < 1000; ++i) held.push_back(tm_malloc(slow, 16 + i % 500));
    after = bound();
    for (void *p : held) ok &= p != nullptr && tm_tier_of(p) == slow;
    for (void *p : held) tm_free(p);
    tm_free(big);
  }).join();
  CHECK(before == 0);
  CHECK(after == slow->slot + 1);
  CHECK(ok);
}

TEST_CASE("a fork child keeps the tcache its thread had for a tier and allocates small blocks on it") {
  // The child's first small block on a tier its parent had used only for a large block: the
  // explicit tcache it inherited must not be destroyed (jemalloc rebuilt its lists without
  // it at the fork), so the tier does not become the child's fast one. It crashed.
  tm_tier *side = tier("emulated:side");
  int status = -1;
  std::thread([&] {
    void *big = tm_malloc(side, 1 << 16);
    REQUIRE(big != nullptr);
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      alarm(20);
      int ok = 1;
      for (int i = 0; i < 2000; ++i) {
        void *p = tm_malloc(side, 1000);
        ok &= p != nullptr && tm_tier_of(p) == side;
        tm_free(p);
      }
      ok &= bound() == 0;
      tm_free(big);
      _exit(ok ? 0 : 1);
    }
    REQUIRE(waitpid(pid, &status, 0) == pid);
    tm_free(big);
  }).join();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("the fast tier's bytes are counted apart from the other calls on its thread") {
  // The fast tier's plain calls note nothing; its net is what jemalloc's totals moved by and
  // the noted calls did not. Interleave every other kind of call on the same thread (another
  // tier's Front, large blocks, realloc) and check that each tier's peak holds its own bytes
  // and none of the other's.
  tm_tier *x = tier("emulated:autox"), *y = tier("emulated:autoy");
  constexpr int kBlocks = 20000;
  constexpr std::size_t kSmall = 1000, kLarge = 1 << 16;
  std::uint64_t x_bytes = 0, y_bytes = 0;
  unsigned x_bound = 0;
  std::thread([&] {
    std::vector<void *> xs, ys;
    xs.push_back(tm_malloc(x, kSmall));  // x's first small block: x is the fast tier
    x_bound = bound();
    for (int i = 1; i < kBlocks; ++i) {
      xs.push_back(tm_malloc(x, kSmall));
      ys.push_back(tm_malloc(y, kSmall));  // y through its Front
      if (i % 100 == 0) {
        xs.push_back(tm_malloc(x, kLarge));  // x's large blocks: noted calls
        ys.push_back(tm_realloc(tm_malloc(y, 64), 4096));
        tm_free(tm_malloc(y, kLarge));
      }
    }
    for (void *p : xs) x_bytes += tm_usable_size(p);
    for (void *p : ys) y_bytes += tm_usable_size(p);
    for (void *p : xs) tm_free(p);
    for (void *p : ys) tm_free(p);
  }).join();
  CHECK(x_bound == x->slot + 1);
  const tm_tier_stats sx = stats_of(x), sy = stats_of(y);
  INFO("x peak " << sx.peak << " of " << x_bytes << ", y peak " << sy.peak << " of " << y_bytes);
  CHECK(sx.peak >= x_bytes - kFoldStep);
  CHECK(sx.peak <= x_bytes + kLarge + kFoldStep);
  CHECK(sy.peak >= y_bytes - kFoldStep);
  CHECK(sy.peak <= y_bytes + kLarge + kFoldStep);
  CHECK(sx.allocated == 0);  // all freed, the thread gone: nothing cached either
}

TEST_CASE("blocks of a thread's fast tier freed by another thread leave the peak at its high") {
  // A relay whose producer's fast tier is the relay's: its plain mallocs are counted lazily,
  // the consumer's frees (noted, through its own tcache) at once.
  tm_tier *z = tier("emulated:autoz");
  std::thread([&] {
    for (int round = 0; round < 50; ++round) {
      std::vector<void *> batch;
      for (int i = 0; i < 1024; ++i) batch.push_back(tm_malloc(z, 1024));
      std::thread([&] {
        for (void *p : batch) tm_free(p);
      }).join();
    }
  }).join();
  const tm_tier_stats s = stats_of(z);
  CHECK(s.peak >= (std::uint64_t{1} << 20) - 2 * kFoldStep);
  CHECK(s.peak < std::uint64_t{8} << 20);
}

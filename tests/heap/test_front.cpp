// The front cache (src/heap/front.hpp): every tier after a thread's first serves small blocks
// from a per-thread, per-tier stack. Blocks must stay on their own tier whatever the order of
// tiers, threads and sizes, the (kMaxFronts + 1)-th tier must still work (the explicit path),
// a thread's exit must give its cached blocks back, and a forked child must go on allocating.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "tiermem/tiermem.h"

namespace {

// Runs before main(), hence before the heap's lazy start: ten emulated tiers, so that a
// thread uses more tiers than it has Fronts (rank:0 is bound; 8 Fronts; the tenth tier has
// none).
const int kEnv = [] {
  setenv("TIERMEM_EMULATE",
         "f1:32M,f2:32M,f3:32M,f4:32M,f5:32M,f6:32M,f7:32M,f8:32M,f9:32M,f10:32M,share:16M,share2:8M,churn:64M", 1);
  return 0;
}();

std::vector<tm_tier *> tiers() {
  std::vector<tm_tier *> t{tm_tier_find("rank:0")};
  for (int i = 1; i <= 10; ++i) t.push_back(tm_tier_find(("emulated:f" + std::to_string(i)).c_str()));
  for (tm_tier *x : t) REQUIRE_MESSAGE(x != nullptr, tm_last_error());
  return t;
}

struct Block {
  void *p;
  std::size_t n;
  tm_tier *tier;
  unsigned char fill;
};

// Allocates `rounds` blocks in turn over `use`, sizes 1 B to 5 KiB (the Fronts serve up to
// 4 KiB; 5 KiB takes the explicit path on the same tiers), keeping a window of live blocks;
// checks each block's tier and contents before freeing it. Returns the failures.
int churn(const std::vector<tm_tier *> &use, int rounds, unsigned seed) {
  static const std::size_t sizes[] = {1, 8, 24, 64, 100, 512, 1000, 2048, 4096, 5000};
  std::vector<Block> window(300, Block{nullptr, 0, nullptr, 0});
  int bad = 0;
  for (int i = 0; i < rounds; ++i) {
    Block &b = window[static_cast<std::size_t>(i) % window.size()];
    if (b.p != nullptr) {
      const auto *c = static_cast<const unsigned char *>(b.p);
      if (tm_tier_of(b.p) != b.tier || tm_usable_size(b.p) < b.n || c[0] != b.fill ||
          c[b.n - 1] != b.fill)
        ++bad;
      tm_free(b.p);
    }
    seed = seed * 1103515245u + 12345u;
    b.tier = use[static_cast<std::size_t>(i) % use.size()];
    b.n = sizes[(seed >> 8) % (sizeof sizes / sizeof sizes[0])];
    b.fill = static_cast<unsigned char>(seed >> 16);
    b.p = tm_malloc(b.tier, b.n);
    if (b.p == nullptr) return bad + 1;
    std::memset(b.p, b.fill, b.n);
  }
  for (Block &b : window) tm_free(b.p);
  return bad;
}

std::uint64_t allocated(tm_tier *t) {
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  return s.allocated;
}

}  // namespace

#if defined(__SANITIZE_THREAD__)
// As in test_env.cpp (heap_tests): jemalloc's fork handler holds every mutex of every arena at
// once, past the 64 held locks ThreadSanitizer's deadlock detector tracks per thread; the
// fork case below would abort it. Races are still detected.
extern "C" const char *__tsan_default_options() { return "detect_deadlocks=0"; }
#endif

TEST_CASE("blocks stay on their tier for 1, 2, 4, 9 and 11 tiers on a thread, past the Fronts") {
  const auto all = tiers();
  for (std::size_t count : {1u, 2u, 4u, 9u, 11u}) {
    // A fresh thread for each count, so that rank:0 is its first (bound) tier each time.
    int bad = -1;
    std::thread th([&] {
      std::vector<tm_tier *> use(all.begin(), all.begin() + static_cast<long>(count));
      bad = churn(use, 20000, static_cast<unsigned>(count));
    });
    th.join();
    CAPTURE(count);
    CHECK(bad == 0);
  }
}

TEST_CASE("a block freed on another thread goes to that thread's Front and stays on its tier") {
  const auto all = tiers();
  tm_tier *t = all[2];
  std::vector<void *> blocks;
  std::thread a([&] {
    tm_free(tm_malloc(all[0], 1));  // rank:0 first: f2 is a Front tier on this thread
    for (int i = 0; i < 500; ++i) blocks.push_back(tm_malloc(t, 64));
  });
  a.join();
  int bad = 0;
  std::thread b([&] {
    tm_free(tm_malloc(all[0], 1));
    tm_free(tm_malloc(t, 64));  // this thread's Front for f2 exists before the frees
    for (void *p : blocks) tm_free(p);
    for (int i = 0; i < 500; ++i) {
      void *p = tm_malloc(t, 64);
      if (tm_tier_of(p) != t) ++bad;
      blocks[static_cast<std::size_t>(i)] = p;
    }
    for (void *p : blocks) tm_free(p);
  });
  b.join();
  CHECK(bad == 0);
}

TEST_CASE("a thread's exit gives its cached blocks back to the tier") {
  const auto all = tiers();
  tm_tier *t = all[3];
  const std::uint64_t before = allocated(t);
  std::uint64_t while_cached = 0;
  std::thread th([&] {
    tm_free(tm_malloc(all[0], 1));
    std::vector<void *> v;
    for (int i = 0; i < 4000; ++i) v.push_back(tm_malloc(t, 256));
    for (void *p : v) tm_free(p);
    while_cached = allocated(t);  // some blocks are in this thread's Front and tcache
  });
  th.join();
  const std::uint64_t after = allocated(t);
  CAPTURE(before);
  CAPTURE(while_cached);
  CAPTURE(after);
  CHECK(while_cached > before);  // the caches held blocks ...
  CHECK(after <= before);        // ... and the exit gave every one back
}

TEST_CASE("a forked child allocates and frees on Front tiers, with the parent's cached blocks") {
  const auto all = tiers();
  std::vector<tm_tier *> use(all.begin(), all.begin() + 5);
  REQUIRE(churn(use, 5000, 7) == 0);  // this thread's Fronts hold blocks now
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) _exit(churn(use, 20000, 11) == 0 ? 0 : 1);
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(churn(use, 5000, 13) == 0);
}

TEST_CASE("threads churning Front tiers at once keep every block on its tier") {
  const auto all = tiers();
  std::vector<tm_tier *> use(all.begin(), all.begin() + 4);
  int bad[2] = {-1, -1};
  std::thread x([&] { bad[0] = churn(use, 30000, 1); });
  std::thread y([&] { bad[1] = churn(use, 30000, 2); });
  x.join();
  y.join();
  CHECK(bad[0] == 0);
  CHECK(bad[1] == 0);
}

// jemalloc's free() fast path finds a block's metadata in a per-thread cache of 16 entries,
// one per 1 GiB of address (bits 30-33), and takes its slow path on a miss. Tiers that start
// in the same entry evict each other's on every free when a thread frees blocks of both in
// turn (before tiers were staggered in their slots, all of them did: the 2-tier window
// benchmark spent 18.5% of its time in free_default). Up to 16 tiers start in one entry each.
TEST_CASE("the tiers' memory lies in distinct entries of jemalloc's per-thread lookup cache") {
  const auto all = tiers();
  std::vector<unsigned> entry;
  std::vector<void *> blocks;
  for (tm_tier *t : all) {
    void *p = tm_malloc(t, 64);
    REQUIRE(p != nullptr);
    blocks.push_back(p);
    entry.push_back(static_cast<unsigned>((reinterpret_cast<std::uintptr_t>(p) >> 30) & 15));
  }
  for (std::size_t i = 0; i < entry.size(); ++i) {
    for (std::size_t j = i + 1; j < entry.size(); ++j) {
      CAPTURE(i);
      CAPTURE(j);
      CHECK(entry[i] != entry[j]);
    }
  }
  for (void *p : blocks) tm_free(p);
}

namespace {

// Requests of every class the Fronts serve, 8 B to 4 KiB (jemalloc 5.3's small classes).
const std::size_t kClassSizes[] = {8,   16,  32,  48,   64,   80,   96,   112,  128,  160,
                                   192, 224, 256, 320,  384,  448,  512,  640,  768,  896,
                                   1024, 1280, 1536, 1792, 2048, 2560, 3072, 3584, 4096};

// On a thread whose Front serves `t`: takes more blocks of every class than a stack holds, so
// that every block the Front holds comes out, and counts those whose usable size (jemalloc's
// own answer) is not their class's: a block freed into the wrong stack.
int misfiled(tm_tier *t, tm_tier *bound) {
  int bad = 0;
  std::vector<void *> held;
  for (std::size_t n : kClassSizes) {
    void *ref = tm_malloc(bound, n);  // the bound tier's plain path: the class's usable size
    const std::size_t want = tm_usable_size(ref);
    tm_free(ref);
    for (int i = 0; i < 70; ++i) {
      void *p = tm_malloc(t, n);
      if (p == nullptr || tm_tier_of(p) != t || tm_usable_size(p) != want) ++bad;
      held.push_back(p);
    }
  }
  for (void *p : held) tm_free(p);
  return bad;
}

template <class Body>
void on_thread(Body body) {
  std::thread th(body);
  th.join();
}

}  // namespace

// A free into a Front takes the block's class from a byte per page, written by the Front
// refills that take blocks from the tier's front arena (front.hpp). Each round fills pages of
// the tier with blocks of one class from both of its arenas, frees each arena's blocks on the
// other kind of thread (a Front thread; a thread bound to the tier, whose plain free caches
// them for its plain malloc), checks that no Front holds a block in the wrong class, and lets
// every thread exit, which empties the slabs: the next round's class is cut from the same
// pages (checked), so a byte left from an earlier class would misfile blocks.
TEST_CASE("a free into a Front finds the class of blocks of either arena, on pages cut again") {
  const auto all = tiers();
  tm_tier *rank0 = all[0];
  tm_tier *t = all[5];
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
  const std::size_t sizes[] = {64, 1024, 48, 4096, 96, 2048, 8, 640};
  constexpr int kBlocks = 2000;
  std::vector<std::uintptr_t> first_pages;
  int reused = 0;
  for (std::size_t n : sizes) {
    CAPTURE(n);
    std::vector<void *> own, front, again;
    on_thread([&] {  // bound to t: its arena's blocks, by the plain path
      for (int i = 0; i < kBlocks; ++i) own.push_back(tm_malloc(t, n));
    });
    on_thread([&] {  // t behind a Front: the front arena's blocks
      tm_free(tm_malloc(rank0, 1));
      for (int i = 0; i < kBlocks; ++i) front.push_back(tm_malloc(t, n));
    });
    for (void *p : own) REQUIRE(p != nullptr);
    for (void *p : front) REQUIRE(p != nullptr);
    int bad = -1;
    on_thread([&] {  // a Front thread frees the tier arena's blocks and half the front ones
      tm_free(tm_malloc(rank0, 1));
      tm_free(tm_malloc(t, 8));
      for (void *p : own) tm_free(p);
      for (std::size_t i = 0; i < front.size() / 2; ++i) tm_free(front[i]);
      bad = misfiled(t, rank0);
    });
    CHECK(bad == 0);
    on_thread([&] {  // a bound thread frees the other half and reallocates them by plain malloc
      tm_free(tm_malloc(t, 8));
      for (std::size_t i = front.size() / 2; i < front.size(); ++i) tm_free(front[i]);
      for (int i = 0; i < kBlocks; ++i) again.push_back(tm_malloc(t, n));
    });
    on_thread([&] {  // ... which a Front thread frees
      tm_free(tm_malloc(rank0, 1));
      tm_free(tm_malloc(t, 8));
      for (void *p : again) tm_free(p);
      bad = misfiled(t, rank0);
    });
    CHECK(bad == 0);
    for (void *p : front) {
      const std::uintptr_t page = reinterpret_cast<std::uintptr_t>(p) >> 12;
      if (first_pages.empty() || n == sizes[0]) continue;
      if (std::find(first_pages.begin(), first_pages.end(), page) != first_pages.end()) ++reused;
    }
    if (n == sizes[0]) {
      for (void *p : front) first_pages.push_back(reinterpret_cast<std::uintptr_t>(p) >> 12);
    }
  }
  CAPTURE(reused);
  CHECK(reused > 0);  // later classes were cut from the first round's pages
}

// A tier's two arenas share its memory but not what each keeps for reuse once blocks are
// freed. Filled to the last byte through one, emptied, the tier must take as much again
// through the other: a bound thread's requests and large blocks fall back to the front arena,
// a Front's refills to the tier's own arena.
TEST_CASE("memory freed in one of a tier's two arenas serves the other's requests") {
  tm_tier *rank0 = tm_tier_find("rank:0");
  tm_tier *t = tm_tier_find("emulated:share");
  REQUIRE_MESSAGE(t != nullptr, tm_last_error());
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
  // Fills the tier from a fresh thread (behind a Front when `front`), frees it all; the bytes.
  auto fill = [&](bool front, std::size_t n) {
    std::size_t got = 0;
    on_thread([&] {
      if (front) tm_free(tm_malloc(rank0, 1));
      std::vector<void *> v;
      while (void *p = tm_malloc(t, n)) v.push_back(p);
      got = v.size() * n;
      for (void *p : v) tm_free(p);
    });
    return got;
  };
  const std::size_t front = fill(true, 1024);
  const std::size_t bound = fill(false, 1024);
  const std::size_t front_again = fill(true, 1024);
  const std::size_t large = fill(false, 1 << 20);
  const std::size_t bound_again = fill(false, 512);
  CAPTURE(front);
  CAPTURE(bound);
  CAPTURE(front_again);
  CAPTURE(large);
  CAPTURE(bound_again);
  const std::size_t most = std::size_t{16} << 20;
  CHECK(front > most / 2);
  CHECK(bound * 10 >= front * 9);
  CHECK(front_again * 10 >= front * 9);
  // 1 MiB blocks after small ones get half the tier: jemalloc's own keeping, the same with
  // one arena per tier (measured at 0937617: 8 of 16 MiB).
  CHECK(large * 2 >= front);
  CHECK(bound_again * 10 >= front * 9);
}

// The same for a resize: a block growing on a thread bound to a tier whose memory the front
// arena holds keeps its contents and its tier.
TEST_CASE("a block grows on a tier whose free memory its front arena holds") {
  tm_tier *rank0 = tm_tier_find("rank:0");
  tm_tier *t = tm_tier_find("emulated:share2");
  REQUIRE_MESSAGE(t != nullptr, tm_last_error());
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
  std::size_t filled = 0;
  on_thread([&] {  // behind a Front: all of the tier's memory goes to its front arena
    tm_free(tm_malloc(rank0, 1));
    std::vector<void *> v;
    while (void *p = tm_malloc(t, 2048)) v.push_back(p);
    filled = v.size() * 2048;
    for (void *p : v) tm_free(p);
  });
  CHECK(filled > (std::size_t{4} << 20));
  int bad = -1;
  on_thread([&] {  // bound to the tier: its own arena has nothing yet
    auto *p = static_cast<unsigned char *>(tm_malloc(t, 100));
    if (p == nullptr) return;
    std::memset(p, 0x5a, 100);
    bad = 0;
    std::size_t n = 100;
    // Not past 1 MiB: growing a 1 MiB block to 2 MiB on this 8 MiB tier fails with one arena
    // per tier as well (measured at 0937617), for want of 2 MiB in one piece.
    for (std::size_t to : {std::size_t{3000}, std::size_t{1} << 20}) {
      auto *q = static_cast<unsigned char *>(tm_realloc(p, to));
      if (q == nullptr) {  // no REQUIRE on another thread: doctest would abort
        std::fprintf(stderr, "%zu: %s\n", to, tm_last_error());
        bad = -2;
        break;
      }
      for (std::size_t i = 0; i < n; ++i) bad += q[i] != 0x5a;
      std::memset(q, 0x5a, to);
      if (tm_tier_of(q) != t) ++bad;
      p = q;
      n = to;
    }
    tm_free(p);
  });
  CHECK(bad == 0);
}

// Blocks of the tier's own arena that a Front thread frees and its Front gives back are taken
// again by its refills before the front arena grows: the tier's memory does not grow when a
// thread frees another's blocks and allocates as many.
TEST_CASE("a Front reuses the tier arena's blocks it gave back before its own arena grows") {
  tm_tier *rank0 = tm_tier_find("rank:0");
  tm_tier *t = tm_tier_find("emulated:churn");
  REQUIRE_MESSAGE(t != nullptr, tm_last_error());
  constexpr int kBlocks = 20000;  // 20 MB of 1 KiB blocks
  std::vector<void *> own;
  on_thread([&] {  // bound to the tier: its own arena's blocks
    for (int i = 0; i < kBlocks; ++i) own.push_back(tm_malloc(t, 1024));
  });
  for (void *p : own) REQUIRE(p != nullptr);
  tm_tier_stats before{}, after{};
  REQUIRE(tm_tier_stats_get(t, &before) == 0);
  int failed = 0;
  on_thread([&] {
    tm_free(tm_malloc(rank0, 1));
    tm_free(tm_malloc(t, 1024));  // the Front for the tier exists before the frees
    for (void *&p : own) tm_free(p);
    for (void *&p : own) failed += (p = tm_malloc(t, 1024)) == nullptr;
  });
  REQUIRE(tm_tier_stats_get(t, &after) == 0);
  CHECK(failed == 0);
  CAPTURE(before.mapped);
  CAPTURE(after.mapped);
  CHECK(after.mapped <= before.mapped + (std::size_t{4} << 20));  // not another 20 MB
  on_thread([&] {
    for (void *p : own) tm_free(p);
  });
}

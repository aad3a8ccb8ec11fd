// The front cache (src/heap/front.hpp): every tier after a thread's first serves small blocks
// from a per-thread, per-tier stack. Blocks must stay on their own tier whatever the order of
// tiers, threads and sizes, the (kMaxFronts + 1)-th tier must still work (the explicit path),
// a thread's exit must give its cached blocks back, and a forked child must go on allocating.
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
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
         "f1:32M,f2:32M,f3:32M,f4:32M,f5:32M,f6:32M,f7:32M,f8:32M,f9:32M,f10:32M", 1);
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

// The heap's C ABI on this machine: node tiers from discovery, emulated tiers from
// TIERMEM_EMULATE (set for this binary in test_env.cpp: slow:256M, tiny:16M, side:64M, ...).
#include <numaif.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>
#include <nlohmann/json.hpp>

#include "heap/jemalloc.hpp"
#include "tiermem/tiermem.h"

namespace {

tm_tier *tier(const char *spec) {
  tm_tier *t = tm_tier_find(spec);
  const std::string why = tm_last_error();  // INFO keeps references: copy before it is read
  INFO(spec << ": " << why);
  REQUIRE(t != nullptr);
  return t;
}

bool contains(const std::string &s, const std::string &part) {
  return s.find(part) != std::string::npos;
}

// tm_stats_json() as a document (the C call returns malloc'ed text the caller frees).
nlohmann::json stats_doc() {
  char *json = tm_stats_json();
  REQUIRE(json != nullptr);
  auto doc = nlohmann::json::parse(json);
  std::free(json);
  return doc;
}

}  // namespace

TEST_CASE("tm_tier_find returns one tier per memory, whatever the spelling") {
  tm_tier *a = tier("emulated:slow");
  CHECK(tier("emulated:slow") == a);
  CHECK(tier("kind:emulated") == a);  // the first emulated tier
  CHECK(std::string(tm_tier_name(a)) == "emulated:slow");
  CHECK(tier("emulated:tiny") != a);
}

TEST_CASE("tm_tier_find rejects unknown or malformed specs with a message naming them") {
  struct Case {
    const char *spec;
    int err;
  } cases[] = {{"bogus:1", EINVAL},   {"rank", EINVAL},       {"rank:x", EINVAL},
               {"rank:99", ENOENT},   {"node:4000", ENOENT},  {"kind:hbm9", ENOENT},
               {"dax:dax9.9", ENOENT}, {"emulated:nope", ENOENT}};
  for (const auto &c : cases) {
    errno = 0;
    CHECK(tm_tier_find(c.spec) == nullptr);
    CHECK(errno == c.err);
    std::string msg = tm_last_error();
    INFO(msg);
    std::string spec = c.spec;
    CHECK(contains(msg, spec.substr(spec.find(':') + 1)));
  }
  CHECK(contains(tm_last_error(), "TIERMEM_EMULATE=nope:1G"));
  CHECK(tm_tier_find(nullptr) == nullptr);
  CHECK(errno == EINVAL);
}

TEST_CASE("blocks lie in their tier's range and tm_tier_of finds the tier") {
  tm_tier *slow = tier("emulated:slow");
  tm_tier *side = tier("emulated:side");
  for (std::size_t n : {1ul, 8ul, 64ul, 4096ul, 100000ul, 3ul << 20}) {
    void *a = tm_malloc(slow, n);
    void *b = tm_malloc(side, n);
    REQUIRE(a != nullptr);
    REQUIRE(b != nullptr);
    std::memset(a, 0xa5, n);
    std::memset(b, 0x5a, n);
    CHECK(tm_tier_of(a) == slow);
    CHECK(tm_tier_of(b) == side);
    CHECK(tm_tier_of(static_cast<char *>(a) + n - 1) == slow);
    CHECK(tm_usable_size(a) >= n);
    tm_free(a);
    tm_free(b);
  }
}

TEST_CASE("the fast path of a thread's first tier never lands off the tier, even unbound") {
  // A fresh thread: its first tier gets the thread's jemalloc arena binding and plain
  // malloc/free. If jemalloc ever served the thread from another arena, the block would lie
  // outside the tier's slot; force that (rebind the thread to jemalloc's arena 0) and check
  // that every block still comes from the tier.
  tm_tier *slow = tier("emulated:slow");
  tm_tier *side = tier("emulated:side");
  int off_tier = 0;
  std::thread th([&] {
    std::vector<void *> blocks;
    for (int i = 0; i < 200; ++i) blocks.push_back(tm_malloc(slow, 64));
    unsigned zero = 0;
    if (tmje_mallctl("thread.arena", nullptr, nullptr, &zero, sizeof zero) != 0) ++off_tier;
    for (int i = 0; i < 2000; ++i) blocks.push_back(tm_malloc(slow, 16 + static_cast<std::size_t>(i % 2000)));
    for (int i = 0; i < 200; ++i) blocks.push_back(tm_malloc(side, 64));
    for (std::size_t i = 0; i < blocks.size(); ++i) {
      tm_tier *want = i < 2200 ? slow : side;
      if (blocks[i] == nullptr || tm_tier_of(blocks[i]) != want) ++off_tier;
    }
    for (void *b : blocks) tm_free(b);
  });
  th.join();
  CHECK(off_tier == 0);
}

TEST_CASE("the rank:0 tier is node memory and its pages sit on its node") {
  tm_tier *t = tier("rank:0");
  char *p = static_cast<char *>(tm_malloc(t, 1 << 20));
  REQUIRE(p != nullptr);
  std::memset(p, 1, 1 << 20);
  int node = -1;
  REQUIRE(get_mempolicy(&node, nullptr, 0, p, MPOL_F_NODE | MPOL_F_ADDR) == 0);
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  INFO(s.backend);
  CHECK(contains(s.backend, "node " + std::to_string(node)));
  CHECK(contains(s.backend, "MPOL_BIND"));
  tm_free(p);
}

TEST_CASE("tm_malloc of zero bytes returns distinct freeable blocks") {
  tm_tier *t = tier("emulated:slow");
  void *a = tm_malloc(t, 0);
  void *b = tm_malloc(t, 0);
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  CHECK(a != b);
  CHECK(tm_tier_of(a) == t);
  tm_free(a);
  tm_free(b);
}

TEST_CASE("allocation calls with a NULL tier fail with EINVAL") {
  errno = 0;
  CHECK(tm_malloc(nullptr, 8) == nullptr);
  CHECK(errno == EINVAL);
  CHECK(contains(tm_last_error(), "tm_malloc(NULL"));
  CHECK(tm_calloc(nullptr, 1, 8) == nullptr);
  CHECK(tm_aligned_alloc(nullptr, 64, 8) == nullptr);
  CHECK(contains(tm_last_error(), "tm_aligned_alloc(NULL"));
}

TEST_CASE("tm_calloc returns zeroed memory, also after reuse, and detects overflow") {
  tm_tier *t = tier("emulated:slow");
  for (int round = 0; round < 3; ++round) {
    unsigned char *p = static_cast<unsigned char *>(tm_malloc(t, 4096));
    REQUIRE(p != nullptr);
    std::memset(p, 0xff, 4096);
    tm_free(p);
    unsigned char *z = static_cast<unsigned char *>(tm_calloc(t, 512, 8));
    REQUIRE(z != nullptr);
    for (int i = 0; i < 4096; ++i) REQUIRE(z[i] == 0);
    tm_free(z);
  }
  errno = 0;
  CHECK(tm_calloc(t, SIZE_MAX / 2, 4) == nullptr);
  CHECK(errno == ENOMEM);
  CHECK(contains(tm_last_error(), "overflows"));
}

TEST_CASE("tm_realloc keeps the contents and the tier while growing and shrinking") {
  tm_tier *t = tier("emulated:side");
  std::size_t n = 16;
  unsigned char *p = static_cast<unsigned char *>(tm_malloc(t, n));
  REQUIRE(p != nullptr);
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<unsigned char>(i);
  for (std::size_t next : {100ul, 5000ul, 1ul << 20, 8ul << 20, 300ul, 7ul}) {
    p = static_cast<unsigned char *>(tm_realloc(p, next));
    REQUIRE(p != nullptr);
    CHECK(tm_tier_of(p) == t);
    std::size_t keep = std::min(n, next);
    for (std::size_t i = 0; i < keep; ++i) REQUIRE(p[i] == static_cast<unsigned char>(i));
    for (std::size_t i = 0; i < next; ++i) p[i] = static_cast<unsigned char>(i);
    n = next;
  }
  CHECK(tm_realloc(p, 0) == nullptr);  // frees
}

TEST_CASE("tm_realloc of NULL allocates with the default policy (TIERMEM_POLICY)") {
  void *p = tm_realloc(nullptr, 100);
  REQUIRE(p != nullptr);
  CHECK(tm_tier_of(p) == tier("emulated:slow"));
  CHECK(std::string(tm_policy_text(tm_policy_default())) == "bind(emulated:slow)");
  tm_free(p);
}

TEST_CASE("tm_aligned_alloc honours every power-of-two alignment and rejects others") {
  tm_tier *t = tier("emulated:slow");
  for (std::size_t align = 1; align <= (4u << 20); align <<= 1) {
    void *p = tm_aligned_alloc(t, align, 24);
    REQUIRE(p != nullptr);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % align == 0);
    CHECK(tm_tier_of(p) == t);
    tm_free(p);
  }
  for (std::size_t bad : {0ul, 3ul, 48ul}) {
    errno = 0;
    CHECK(tm_aligned_alloc(t, bad, 8) == nullptr);
    CHECK(errno == EINVAL);
    CHECK(contains(tm_last_error(), "alignment " + std::to_string(bad)));
  }
}

TEST_CASE("a pointer tiermem never gave out is reported and left alone") {
  char *mine = static_cast<char *>(std::malloc(64));
  std::strcpy(mine, "still here");
  auto before = stats_doc()["foreign_frees"].get<unsigned long>();
  tm_free(mine);
  char text[32];
  std::snprintf(text, sizeof text, "%p", static_cast<void *>(mine));
  CHECK(contains(tm_last_error(), std::string("tm_free(") + text + ")"));
  CHECK(std::string(mine) == "still here");  // not freed: glibc would have reused it
  int on_stack = 0;
  tm_free(&on_stack);
  CHECK(tm_realloc(mine, 10) == nullptr);
  CHECK(errno == EINVAL);
  CHECK(tm_usable_size(mine) == 0);
  CHECK(tm_tier_of(mine) == nullptr);
  CHECK(stats_doc()["foreign_frees"].get<unsigned long>() == before + 3);
  std::free(mine);  // the program's own free still owns it: no double free
}

TEST_CASE("tm_free of NULL does nothing and tm_tier_of(NULL) is NULL") {
  tm_free(nullptr);
  CHECK(tm_tier_of(nullptr) == nullptr);
  CHECK(tm_usable_size(nullptr) == 0);
}

TEST_CASE("huge requests fail with ENOMEM and a message naming the tier") {
  tm_tier *t = tier("emulated:slow");
  for (std::size_t n : {std::size_t{1} << 40, SIZE_MAX / 2, SIZE_MAX}) {
    errno = 0;
    CHECK(tm_malloc(t, n) == nullptr);
    CHECK(errno == ENOMEM);
    CHECK(contains(tm_last_error(), "emulated:slow"));
  }
  void *p = tm_malloc(t, 100);  // the tier still works
  CHECK(p != nullptr);
  tm_free(p);
}

TEST_CASE("a too-small emulated tier runs out with ENOMEM, counts it, and recovers") {
  tm_tier *t = tier("emulated:tiny");
  std::vector<void *> blocks;
  for (int i = 0; i < 64; ++i) {
    void *p = tm_malloc(t, 1 << 20);
    if (p == nullptr) break;
    std::memset(p, i, 1 << 20);
    blocks.push_back(p);
  }
  CHECK(blocks.size() >= 4);
  CHECK(blocks.size() < 16);  // 16 MiB tier, jemalloc's metadata included
  errno = 0;
  CHECK(tm_malloc(t, 1 << 20) == nullptr);
  CHECK(errno == ENOMEM);
  CHECK(contains(tm_last_error(), "emulated:tiny"));
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  CHECK(s.failures >= 1);
  CHECK(s.mapped <= s.capacity);
  CHECK(s.peak >= blocks.size() << 20);
  for (void *p : blocks) tm_free(p);
  void *again = tm_malloc(t, 1 << 20);  // freed memory is reused
  CHECK(again != nullptr);
  tm_free(again);
}

TEST_CASE("a tier limit caps the memory taken from the tier") {
  tm_tier *t = tier("emulated:side");
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  REQUIRE(tm_tier_set_limit(t, s.mapped + (4u << 20)) == 0);
  std::vector<void *> blocks;
  while (void *p = tm_malloc(t, 1 << 20)) {
    blocks.push_back(p);
    REQUIRE(blocks.size() < 64);
  }
  CHECK(errno == ENOMEM);
  CHECK(contains(tm_last_error(), "limit"));
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  CHECK(s.mapped <= s.limit);
  for (void *p : blocks) tm_free(p);
  CHECK(tm_tier_set_limit(t, UINT64_MAX) == 0);
  CHECK(tm_tier_set_limit(nullptr, 1) == -EINVAL);
}

TEST_CASE("a limit counts live bytes: memory kept for reuse is not served past it") {
  tm_tier *t = tier("emulated:live");
  std::vector<void *> blocks;
  for (int i = 0; i < 16; ++i) {
    blocks.push_back(tm_malloc(t, 1 << 20));
    REQUIRE(blocks.back() != nullptr);
  }
  for (void *p : blocks) tm_free(p);  // 16 MiB stay mapped, kept by jemalloc for reuse
  blocks.clear();
  REQUIRE(tm_tier_set_limit(t, 4u << 20) == 0);
  while (void *p = tm_malloc(t, 1 << 20)) {
    blocks.push_back(p);
    REQUIRE(blocks.size() < 32);
  }
  CHECK(errno == ENOMEM);
  CHECK(contains(tm_last_error(), "tier 'emulated:live': its limit of 4194304 bytes is reached"));
  CHECK(blocks.size() == 4);
  errno = 0;
  CHECK(tm_realloc(blocks[0], 2 << 20) == nullptr);  // growing past the limit fails too
  CHECK(errno == ENOMEM);
  tm_free(blocks.back());  // freeing makes room again
  blocks.back() = tm_malloc(t, 1 << 20);
  CHECK(blocks.back() != nullptr);
  for (void *p : blocks) tm_free(p);
  REQUIRE(tm_tier_set_limit(t, UINT64_MAX) == 0);
}

TEST_CASE("a limit of 0 makes the next allocation on the tier fail with ENOMEM") {
  tm_tier *t = tier("emulated:nil");
  void *warm[] = {tm_malloc(t, 1 << 20), tm_malloc(t, 64)};
  for (void *p : warm) {
    REQUIRE(p != nullptr);
    tm_free(p);
  }
  REQUIRE(tm_tier_set_limit(t, 0) == 0);
  for (std::size_t n : {std::size_t{1}, std::size_t{64}, std::size_t{1} << 20}) {
    errno = 0;
    CHECK(tm_malloc(t, n) == nullptr);
    CHECK(errno == ENOMEM);
    CHECK(contains(tm_last_error(), "tier 'emulated:nil': its limit of 0 bytes is reached"));
  }
  CHECK(tm_calloc(t, 1, 8) == nullptr);
  CHECK(tm_aligned_alloc(t, 4096, 8) == nullptr);
  REQUIRE(tm_tier_set_limit(t, UINT64_MAX) == 0);  // UINT64_MAX lifts it
  void *p = tm_malloc(t, 1 << 20);
  CHECK(p != nullptr);
  tm_free(p);
}

TEST_CASE("a node that is a whole tier reports that tier's kind, whichever name opens it") {
  unsigned nodes[64];
  std::size_t count = 0;
  REQUIRE(tm_tier_spec_nodes("rank:0", nodes, 64, &count) > 0);
  if (count != 1) return;  // rank:0 spans several nodes here: node:N is a tier of its own
  std::string node = "node:" + std::to_string(nodes[0]);
  tm_tier *t = tier(node.c_str());  // opened by the node's name first
  CHECK(tier("rank:0") == t);
  tm_topology *topo = nullptr;
  REQUIRE(tm_topology_load(nullptr, &topo) == 0);
  tm_tier_info info{};
  REQUIRE(tm_topology_tier(topo, 0, &info) == 0);
  std::string want = info.kind;
  tm_topology_free(topo);
  auto doc = stats_doc();
  bool found = false;
  for (const auto &j : doc["tiers"]) {
    if (j["name"] != node) continue;
    found = true;
    CHECK(j["kind"] == want);
    CHECK(j["rank"] == 0);
  }
  CHECK(found);
}

TEST_CASE("statistics count live bytes and appear as JSON for every opened tier") {
  tm_tier *t = tier("emulated:slow");
  tm_tier_stats before{};
  REQUIRE(tm_tier_stats_get(t, &before) == 0);
  void *p = tm_malloc(t, 10 << 20);
  REQUIRE(p != nullptr);
  tm_tier_stats during{};
  REQUIRE(tm_tier_stats_get(t, &during) == 0);
  CHECK(during.allocated >= before.allocated + (10u << 20));
  CHECK(during.peak >= during.allocated);
  CHECK(during.capacity == 256u << 20);
  CHECK(during.limit == UINT64_MAX);
  CHECK(std::string(during.name) == "emulated:slow");
  CHECK(contains(during.backend, "memfd"));
  tm_free(p);
  auto doc = stats_doc();
  bool found = false;
  for (const auto &j : doc["tiers"]) {
    if (j["name"] == "emulated:slow") {
      found = true;
      CHECK(j["kind"] == "emulated");
      CHECK(j["peak"].get<std::uint64_t>() >= (10u << 20));
      for (const char *k : {"capacity", "mapped", "allocated", "failures", "fallbacks"}) {
        CHECK(j.contains(k));
      }
    }
  }
  CHECK(found);
  tm_tier *list[64];
  std::size_t n = tm_tiers_opened(list, 64);
  CHECK(n >= 1);
  CHECK(std::find(list, list + n, t) != list + n);
  CHECK(tm_tier_stats_get(nullptr, &before) == -EINVAL);
}

namespace {
tm_tier_stats stats_of(tm_tier *t) {
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  return s;
}
constexpr std::uint64_t kFoldStep = 64 << 10;  // what a thread may hold unfolded (heap.hpp)
}  // namespace

TEST_CASE("peak counts blocks that were freed before any statistics read") {
  // The shape of an 80 MB Python list: many 1000-byte objects, all freed before exit. The peak
  // used to be sampled by statistics reads only, and read ~0.6 MB here.
  tm_tier *t = tier("emulated:peak");
  std::vector<void *> blocks;
  blocks.reserve(80000);
  for (int i = 0; i < 80000; ++i) blocks.push_back(tm_malloc(t, 1000));
  REQUIRE(std::count(blocks.begin(), blocks.end(), nullptr) == 0);
  std::uint64_t usable = 0;
  for (void *p : blocks) usable += tm_usable_size(p);
  for (void *p : blocks) tm_free(p);
  const tm_tier_stats s = stats_of(t);
  CHECK(s.peak >= usable);
  CHECK(s.peak <= s.mapped);  // live blocks never held more than the tier took
}

TEST_CASE("peak counts a block grown by tm_realloc, shrunk again and freed") {
  tm_tier *t = tier("emulated:grow");
  void *p = tm_malloc(t, 1000);
  REQUIRE(p != nullptr);
  for (std::size_t n = 1 << 20; n <= (std::size_t{40} << 20); n *= 2) {
    p = tm_realloc(p, n);
    REQUIRE(p != nullptr);
  }
  p = tm_realloc(p, 1000);
  REQUIRE(p != nullptr);
  tm_free(p);
  const tm_tier_stats s = stats_of(t);
  CHECK(s.peak >= std::uint64_t{32} << 20);
  CHECK(s.peak < std::uint64_t{64} << 20);  // no step of the growth counted twice
}

TEST_CASE("peak sums what several threads hold at their common high, also after they exit") {
  tm_tier *t = tier("emulated:hand");
  constexpr int kThreads = 2, kBlocks = 5000;
  constexpr std::size_t kSize = 4096;
  std::atomic<int> full{0};
  auto work = [&] {
    std::vector<void *> mine;
    for (int i = 0; i < kBlocks; ++i) mine.push_back(tm_malloc(t, kSize));
    full.fetch_add(1);
    while (full.load() < kThreads) std::this_thread::yield();
    for (void *p : mine) tm_free(p);
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < kThreads; ++i) threads.emplace_back(work);
  for (auto &th : threads) th.join();
  const tm_tier_stats s = stats_of(t);
  CHECK(s.peak >= kThreads * (kBlocks * kSize - kFoldStep));
  CHECK(s.peak <= s.mapped);
}

TEST_CASE("blocks freed by another thread than their allocator's do not inflate the peak") {
  // A producer/consumer relay: 100 MiB pass through, never more than 1 MiB live. Per-thread
  // high-water marks would see the producer's ever-growing net; sums of nets do not.
  tm_tier *t = tier("emulated:relay");
  for (int round = 0; round < 100; ++round) {
    std::vector<void *> batch;
    for (int i = 0; i < 1024; ++i) batch.push_back(tm_malloc(t, 1024));
    std::thread([&] {
      for (void *p : batch) tm_free(p);
    }).join();
  }
  const tm_tier_stats s = stats_of(t);
  CHECK(s.peak >= (std::uint64_t{1} << 20) - 2 * kFoldStep);
  CHECK(s.peak < std::uint64_t{8} << 20);
}

TEST_CASE("the statistics JSON names the process: its pid and command") {
  auto doc = stats_doc();
  CHECK(doc["pid"].get<long>() == static_cast<long>(::getpid()));
  CHECK(doc["command"] == "heap_tests");
  CHECK(doc.contains("tiers"));
  CHECK(doc.contains("foreign_frees"));
}

TEST_CASE("threads allocate, check, reallocate and free across tiers concurrently") {
  tm_tier *tiers[] = {tier("emulated:slow"), tier("emulated:side"), tier("rank:0")};
  constexpr int kThreads = 4, kRounds = 4000;
  std::atomic<int> bad{0};
  // Blocks made by one thread are freed by the next one (cross-thread frees).
  std::vector<std::vector<std::pair<unsigned char *, std::size_t>>> handoff(kThreads);
  std::vector<std::thread> pool;
  for (int id = 0; id < kThreads; ++id) {
    pool.emplace_back([&, id] {
      std::mt19937 rng(static_cast<unsigned>(id));
      std::vector<std::pair<unsigned char *, std::size_t>> live;
      for (int r = 0; r < kRounds; ++r) {
        std::size_t n = std::size_t{1} << (rng() % 17);
        n += rng() % n;
        tm_tier *t = tiers[rng() % 3];
        auto *p = static_cast<unsigned char *>(tm_malloc(t, n));
        if (p == nullptr || tm_tier_of(p) != t) {
          ++bad;
          continue;
        }
        std::memset(p, (id * 31 + r) & 0xff, n);
        live.emplace_back(p, n);
        if (live.size() > 32) {
          auto [q, m] = live[rng() % live.size()];
          unsigned char want = q[0];
          for (std::size_t i = 0; i < m; i += 97) bad += q[i] != want;
          tm_tier *owner = tm_tier_of(q);
          std::size_t grown = m * 2 + 1;
          auto *g = static_cast<unsigned char *>(tm_realloc(q, grown));
          if (g == nullptr || tm_tier_of(g) != owner) {
            ++bad;
          } else {
            for (std::size_t i = 0; i < m; i += 97) bad += g[i] != want;
            tm_free(g);
          }
          live.erase(std::find_if(live.begin(), live.end(),
                                  [&](const auto &e) { return e.first == q; }));
        }
      }
      handoff[id] = std::move(live);
    });
  }
  for (auto &th : pool) th.join();
  pool.clear();
  for (int id = 0; id < kThreads; ++id) {
    pool.emplace_back([&, id] {
      for (auto [p, n] : handoff[(id + 1) % kThreads]) {
        for (std::size_t i = 0; i < n; i += 97) bad += p[i] != p[0];
        tm_free(p);
      }
    });
  }
  for (auto &th : pool) th.join();
  CHECK(bad.load() == 0);
}

TEST_CASE("a forked child gets a private copy of emulated-tier memory and keeps allocating") {
  tm_tier *t = tier("emulated:slow");
  char *shared = static_cast<char *>(tm_malloc(t, 1 << 16));
  REQUIRE(shared != nullptr);
  std::memset(shared, 'P', 1 << 16);
  // Two threads keep allocating and freeing while we fork, so that jemalloc's bin locks are
  // often held at the moment of the fork. A child that inherited a held lock would hang in
  // its first free: the alarm turns that into a failure, and many rounds make it likely
  // (before the fork handlers were registered ahead of jemalloc's, 25 of 300 forks hung).
  std::atomic<bool> stop{false};
  std::vector<std::thread> busy;
  for (int k = 0; k < 2; ++k) {
    busy.emplace_back([&] {
      std::vector<void *> held(64, nullptr);
      unsigned i = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (auto &p : held) {
          tm_free(p);
          p = tm_malloc(t, 16 + (i++ % 512));
        }
      }
      for (void *p : held) tm_free(p);
    });
  }
  int failed = 0, hung = 0;
  bool intact = true;
  for (int round = 0; round < 100; ++round) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      alarm(20);
      int ok = 1;
      for (int i = 0; i < (1 << 16); ++i) ok &= shared[i] == 'P';
      std::memset(shared, 'C', 1 << 16);  // must not reach the parent
      for (int i = 0; i < 1000; ++i) {
        char *p = static_cast<char *>(tm_malloc(t, 1000));
        ok &= p != nullptr && tm_tier_of(p) == t;
        if (p) std::memset(p, 'c', 1000);
        tm_free(p);
      }
      ok &= tm_tier_find("emulated:side") != nullptr;  // the registry lock works in the child
      _exit(ok ? 0 : 1);
    }
    int status = 0;
    REQUIRE(waitpid(pid, &status, 0) == pid);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM) {
      ++hung;
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      ++failed;
    }
    for (int i = 0; i < (1 << 16); ++i) intact &= shared[i] == 'P';
  }
  stop = true;
  for (auto &th : busy) th.join();
  CHECK(hung == 0);
  CHECK(failed == 0);
  CHECK(intact);
  tm_free(shared);
}

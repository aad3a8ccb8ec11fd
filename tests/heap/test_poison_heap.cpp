// The heap's side of memory errors, without privileges: poison is reported to tiermem's
// handler with a siginfo_t as the kernel fills it (SIGBUS, BUS_MCEERR_AO/AR, si_addr,
// si_addr_lsb) through tm_sigbus_forward(), the entry a program's own handler uses. The
// reports name heap blocks, drive quarantine and, for a node tier in repair mode, really
// replace the page (mmap + mbind). The VM scenario poison-heap.sh does the same with real
// hardware poison (MADV_HWPOISON).
#include <signal.h>
#include <unistd.h>

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

#include "heap/heap.hpp"
#include "heap/owner.hpp"
#include "safety/poison_registry.hpp"
#include "tiermem/tiermem.h"

namespace {

const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "poison:1G,pdecay:64M,prealloc:1G,prepair:64M,pclean:64M", 1);
  return 0;
}();

constexpr std::size_t kPage = 4096;

// One recorded callback.
struct Seen {
  void *ptr = nullptr;
  std::size_t size = 0, offset = 0;
  int tier = -2;
  int count = 0;
};
Seen seen;
void on_poison(void *ptr, size_t size, int tier, size_t offset, void *) {
  seen.ptr = ptr;
  seen.size = size;
  seen.tier = tier;
  seen.offset = offset;
  ++seen.count;
}

struct Callback {
  Callback() {
    seen = Seen{};
    REQUIRE(tm_on_poison(on_poison, nullptr) == 0);
  }
  ~Callback() { tm_on_poison_remove(on_poison, nullptr); }
};

// What the kernel delivers for poison: returns tm_sigbus_forward()'s answer.
int report(int code, const void *addr, int lsb = 12) {
  siginfo_t si{};
  si.si_signo = SIGBUS;
  si.si_code = code;
  si.si_addr = const_cast<void *>(addr);
  si.si_addr_lsb = static_cast<short>(lsb);
  return tm_sigbus_forward(SIGBUS, &si, nullptr);
}

tm_tier *tier(const char *spec) {
  tm_tier *t = tm_tier_find(spec);
  REQUIRE_MESSAGE(t != nullptr, tm_last_error());
  return t;
}

tm_tier_stats stats(tm_tier *t) {
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  return s;
}

unsigned char pattern(std::size_t i) { return static_cast<unsigned char>(i * 13 + 7); }

void fill(void *p, std::size_t n) {
  auto *b = static_cast<unsigned char *>(p);
  for (std::size_t i = 0; i < n; ++i) b[i] = pattern(i);
}

std::size_t mismatches(const void *p, std::size_t from, std::size_t to) {
  const auto *b = static_cast<const unsigned char *>(p);
  std::size_t bad = 0;
  for (std::size_t i = from; i < to; ++i) bad += b[i] != pattern(i);
  return bad;
}

bool overlaps(const void *a, std::size_t an, const void *b, std::size_t bn) {
  auto x = reinterpret_cast<std::uintptr_t>(a), y = reinterpret_cast<std::uintptr_t>(b);
  return x < y + bn && y < x + an;
}

int rank_of(tm_tier *t) {
  char *json = tm_stats_json();
  REQUIRE(json != nullptr);
  auto doc = nlohmann::json::parse(json);
  std::free(json);
  for (const auto &j : doc["tiers"]) {
    if (j["name"] == tm_tier_name(t)) return j["rank"].is_null() ? -1 : j["rank"].get<int>();
  }
  FAIL("tier not in the statistics");
  return -2;
}

}  // namespace

TEST_CASE("the extent map names every large block exactly and puts small ones in their slab") {
  tm_tier *t = tier("emulated:poison");
  std::mt19937 rng(5);
  std::vector<std::pair<void *, std::size_t>> blocks;
  for (int i = 0; i < 2000; ++i) {
    std::size_t n = rng() % 3 == 0 ? 16384 + rng() % (512 << 10) : 1 + rng() % 14000;
    void *p = tm_malloc(t, n);
    REQUIRE(p != nullptr);
    blocks.emplace_back(p, n);
    if (rng() % 4 == 0) {
      std::size_t k = rng() % blocks.size();
      tm_free(blocks[k].first);
      blocks.erase(blocks.begin() + static_cast<long>(k));
    }
  }
  std::size_t large = 0;
  for (auto [p, n] : blocks) {
    tiermem::heap::Extent b;
    const auto *mid = static_cast<const char *>(p) + n / 2;
    REQUIRE(tiermem::heap::extent_at(mid, &b));
    CHECK(b.tier == t);
    CHECK(overlaps(b.start, b.size, p, n));
    CHECK(reinterpret_cast<std::uintptr_t>(b.start) <= reinterpret_cast<std::uintptr_t>(p));
    CHECK(static_cast<const char *>(p) + n <= static_cast<char *>(b.start) + b.size);
    if (n > tiermem::heap::g_small_max) {
      ++large;
      CHECK(b.start == p);
      CHECK(b.size >= tm_usable_size(p));
      CHECK(b.size <= tm_usable_size(p) + kPage);
    }
  }
  CHECK(large > 300);
  for (auto [p, n] : blocks) tm_free(p);
}

TEST_CASE("a poison report in a block names the block, its tier and the poisoned page's offset") {
  Callback cb;
  tm_tier *t = tier("emulated:poison");
  void *p = tm_malloc(t, 64 << 10);
  REQUIRE(p != nullptr);
  auto *bad = static_cast<char *>(p) + 3 * kPage + 100;
  CHECK(report(BUS_MCEERR_AO, bad) == 1);
  CHECK(seen.count == 1);
  CHECK(seen.ptr == p);
  CHECK(seen.size >= tm_usable_size(p));
  CHECK(seen.offset == 3 * kPage);
  CHECK(seen.tier == rank_of(t));
  CHECK(tm_poison_contains(bad, 1) == 1);

  SUBCASE("the same unit reported again calls back no more") {
    CHECK(report(BUS_MCEERR_AO, bad + 8) == 1);
    CHECK(seen.count == 1);
  }
  SUBCASE("freeing it quarantines it: later allocations never overlap it") {
    tm_tier_stats before = stats(t);
    std::size_t usable = tm_usable_size(p);
    tm_free(p);
    tm_tier_stats after = stats(t);
    CHECK(after.quarantined_blocks == before.quarantined_blocks + 1);
    CHECK(after.quarantined == before.quarantined + usable);
    std::mt19937 rng(7);
    std::vector<void *> later;
    for (int i = 0; i < 5000; ++i) {
      std::size_t n = rng() % 2 ? 1 + rng() % 2048 : 1 + rng() % (128 << 10);
      void *q = tm_malloc(t, n);
      REQUIRE(q != nullptr);
      CHECK_FALSE(overlaps(q, tm_usable_size(q), p, usable));
      later.push_back(q);
      if (rng() % 3 == 0) {
        tm_free(later.back());
        later.pop_back();
      }
    }
    for (void *q : later) tm_free(q);
  }
}

TEST_CASE("a memory error on one tier makes only that tier's blocks checked for poison") {
  tm_tier *t = tier("emulated:poison");
  tm_tier *other = tier("emulated:pclean");
  void *p = tm_malloc(t, 64 << 10);
  void *q = tm_malloc(other, 64 << 10);
  REQUIRE(p != nullptr);
  REQUIRE(q != nullptr);
  CHECK(report(BUS_MCEERR_AO, static_cast<char *>(p) + kPage) == 1);
  CHECK(tiermem::safety::poison_ever_recorded());
  CHECK(t->poisoned.load());
  CHECK(tiermem::heap::careful(t->slot));
  CHECK_FALSE(other->poisoned.load());
  CHECK_FALSE(tiermem::heap::careful(other->slot));
  tm_free(q);
  void *r = tm_malloc(other, 64 << 10);
  CHECK(r != nullptr);
  tm_free(r);
  tm_tier_stats before = stats(t);
  tm_free(p);  // the poisoned tier's free still finds the poison: quarantined
  CHECK(stats(t).quarantined_blocks == before.quarantined_blocks + 1);
}

TEST_CASE("threads allocating and freeing after a memory error never get the poisoned unit") {
  tm_tier *t = tier("emulated:poison");
  void *p = tm_malloc(t, 32 << 10);
  REQUIRE(p != nullptr);
  char *bad = static_cast<char *>(p) + kPage;
  CHECK(report(BUS_MCEERR_AO, bad) == 1);
  tm_free(p);
  std::vector<std::thread> threads;
  std::vector<std::size_t> hits(4, 0);
  for (unsigned k = 0; k < 4; ++k) {
    threads.emplace_back([&, k] {
      std::mt19937 rng(k);
      std::vector<void *> live;
      for (int i = 0; i < 3000; ++i) {
        std::size_t n = rng() % 2 ? 1 + rng() % 1024 : 1 + rng() % (64 << 10);
        void *q = tm_malloc(t, n);
        if (q == nullptr) continue;
        hits[k] += overlaps(q, tm_usable_size(q), bad, kPage);
        live.push_back(q);
        if (rng() % 2) {
          tm_free(live.back());
          live.pop_back();
        }
      }
      for (void *q : live) tm_free(q);
    });
  }
  for (auto &th : threads) th.join();
  for (std::size_t h : hits) CHECK(h == 0);
}

TEST_CASE("a small block's poison report names the slab that holds it") {
  Callback cb;
  tm_tier *t = tier("emulated:poison");
  void *p = tm_malloc(t, 48);
  REQUIRE(p != nullptr);
  CHECK(report(BUS_MCEERR_AO, p) == 1);
  REQUIRE(seen.count == 1);
  CHECK(reinterpret_cast<std::uintptr_t>(seen.ptr) <= reinterpret_cast<std::uintptr_t>(p));
  CHECK(static_cast<char *>(p) + 48 <= static_cast<char *>(seen.ptr) + seen.size);
  CHECK(seen.size <= 64 * kPage);
  tm_free(p);
  // Every other block of its page is caught when handed out.
  for (int i = 0; i < 4000; ++i) {
    void *q = tm_malloc(t, 48);
    REQUIRE(q != nullptr);
    CHECK(tm_poison_contains(q, 48) == 0);
  }
}

TEST_CASE("memory that was already free when poisoned is never handed out") {
  tm_tier *t = tier("emulated:prealloc");
  void *p = tm_malloc(t, 256 << 10);
  REQUIRE(p != nullptr);
  tm_free(p);
  CHECK(report(BUS_MCEERR_AO, static_cast<char *>(p) + 5 * kPage) == 1);
  tm_tier_stats before = stats(t);
  std::vector<void *> later;
  for (int i = 0; i < 3000; ++i) {
    void *q = tm_malloc(t, i % 2 ? 256 << 10 : 100);
    REQUIRE(q != nullptr);
    CHECK(tm_poison_contains(q, tm_usable_size(q)) == 0);
    later.push_back(q);
  }
  CHECK(stats(t).quarantined_blocks > before.quarantined_blocks);
  CHECK(stats(t).quarantined > before.quarantined);
  for (void *q : later) tm_free(q);
}

TEST_CASE("tm_realloc moves a poisoned block: readable bytes copied, the lost page zero") {
  tm_tier *t = tier("emulated:poison");
  constexpr std::size_t n = 64 << 10;
  auto *p = static_cast<unsigned char *>(tm_malloc(t, n));
  REQUIRE(p != nullptr);
  fill(p, n);
  CHECK(report(BUS_MCEERR_AO, p + 2 * kPage + 1) == 1);
  tm_tier_stats before = stats(t);
  auto *q = static_cast<unsigned char *>(tm_realloc(p, 2 * n));
  REQUIRE(q != nullptr);
  CHECK(q != p);
  CHECK(tm_poison_contains(q, 2 * n) == 0);
  CHECK(mismatches(q, 0, 2 * kPage) == 0);
  CHECK(mismatches(q, 3 * kPage, n) == 0);
  std::size_t zeros = 0;
  for (std::size_t i = 2 * kPage; i < 3 * kPage; ++i) zeros += q[i] == 0;
  CHECK(zeros == kPage);
  CHECK(stats(t).quarantined_blocks == before.quarantined_blocks + 1);
  tm_free(q);
}

TEST_CASE("after a memory error tm_realloc keeps clean data and tm_calloc still zeroes") {
  tm_tier *t = tier("emulated:poison");
  void *bad = tm_malloc(t, 64 << 10);
  REQUIRE(bad != nullptr);
  CHECK(report(BUS_MCEERR_AO, bad) == 1);  // the checked paths are on from here
  constexpr std::size_t n = 100 << 10;
  auto *p = static_cast<unsigned char *>(tm_malloc(t, n));
  REQUIRE(p != nullptr);
  fill(p, n);
  CHECK(tm_realloc(p, n / 2) == p);  // a clean block shrinks in place
  auto *q = static_cast<unsigned char *>(tm_realloc(p, 3 * n));
  REQUIRE(q != nullptr);
  CHECK(mismatches(q, 0, n / 2) == 0);
  CHECK(tm_poison_contains(q, 3 * n) == 0);
  tm_free(q);
  std::vector<void *> dirty;
  for (int i = 0; i < 64; ++i) {
    dirty.push_back(tm_malloc(t, 200));
    REQUIRE(dirty.back() != nullptr);
    std::memset(dirty.back(), 0xff, 200);
  }
  for (void *d : dirty) tm_free(d);
  for (int i = 0; i < 64; ++i) {
    auto *z = static_cast<unsigned char *>(tm_calloc(t, 1, 200));
    REQUIRE(z != nullptr);
    std::size_t nonzero = 0;
    for (int k = 0; k < 200; ++k) nonzero += z[k] != 0;
    CHECK(nonzero == 0);
    dirty[static_cast<std::size_t>(i)] = z;
  }
  for (void *d : dirty) tm_free(d);
  tm_free(bad);
}

TEST_CASE("poison in memory the heap gave back to the kernel is forgotten") {
  REQUIRE(tm_set_decay_ms(0) == 0);  // for tiers opened from here on: purge at once
  tm_tier *t = tier("emulated:pdecay");
  REQUIRE(tm_set_decay_ms(10000) == 0);
  void *p = tm_malloc(t, 1 << 20);
  REQUIRE(p != nullptr);
  char *page = static_cast<char *>(p) + 8 * kPage;
  CHECK(report(BUS_MCEERR_AO, page) == 1);
  REQUIRE(tm_poison_contains(page, 1) == 1);
  // Freed past the quarantine check, as the heap frees a block it has repaired: jemalloc
  // purges it at once (decay 0) and the hole punched in the file holds no poison.
  tiermem::heap::release(t, p);
  CHECK(tm_poison_contains(page, 1) == 0);
}

TEST_CASE("repair mode replaces a node tier's poisoned page with a zeroed one and continues") {
  Callback cb;
  tm_tier *t = tier("node:0");
  constexpr std::size_t n = 256 << 10;
  auto *p = static_cast<unsigned char *>(tm_malloc(t, n));
  REQUIRE(p != nullptr);
  fill(p, n);
  REQUIRE(tm_poison_set_mode(TM_POISON_REPAIR) == 0);
  CHECK(tm_poison_get_mode() == TM_POISON_REPAIR);
  tm_tier_stats before = stats(t);
  CHECK(report(BUS_MCEERR_AR, p + 5 * kPage + 17) == 1);  // handled: the load may resume
  tm_poison_set_mode(TM_POISON_REPORT);
  CHECK(seen.count == 1);
  CHECK(seen.ptr == p);
  CHECK(seen.offset == 5 * kPage);
  std::size_t zeros = 0;
  for (std::size_t i = 5 * kPage; i < 6 * kPage; ++i) zeros += p[i] == 0;
  CHECK(zeros == kPage);
  CHECK(mismatches(p, 0, 5 * kPage) == 0);
  CHECK(mismatches(p, 6 * kPage, n) == 0);
  CHECK(tm_poison_contains(p, n) == 0);  // good memory again
  CHECK(stats(t).repaired == before.repaired + kPage);
  p[5 * kPage] = 1;  // the new page is writable
  tm_free(p);
  CHECK(stats(t).quarantined_blocks == before.quarantined_blocks);
}

TEST_CASE("repair mode refuses an emulated tier: the fault is passed on and the page stays") {
  Callback cb;
  tm_tier *t = tier("emulated:prepair");
  constexpr std::size_t n = 64 << 10;
  auto *p = static_cast<unsigned char *>(tm_malloc(t, n));
  REQUIRE(p != nullptr);
  fill(p, n);
  REQUIRE(tm_poison_set_mode(TM_POISON_REPAIR) == 0);
  CHECK(report(BUS_MCEERR_AR, p + kPage) == 0);  // not handled: the caller forwards it
  tm_poison_set_mode(TM_POISON_REPORT);
  CHECK(seen.count == 1);
  CHECK(seen.ptr == p);
  CHECK(mismatches(p, 0, n) == 0);
  CHECK(tm_poison_contains(p + kPage, 1) == 1);
  CHECK(stats(t).repaired == 0);
  tm_free(p);
}

TEST_CASE("report mode passes a consumed poison on after reporting it") {
  Callback cb;
  tm_tier *t = tier("node:0");
  void *p = tm_malloc(t, 64 << 10);
  REQUIRE(p != nullptr);
  CHECK(tm_poison_get_mode() == TM_POISON_REPORT);
  CHECK(report(BUS_MCEERR_AR, static_cast<char *>(p) + 9 * kPage) == 0);
  CHECK(seen.count == 1);
  CHECK(seen.ptr == p);
  tm_free(p);
}

TEST_CASE("tm_poison_set_mode rejects an unknown mode, naming it") {
  CHECK(tm_poison_set_mode(7) == -EINVAL);
  CHECK(std::string(tm_last_error()).find("tm_poison_set_mode(7): not a mode") !=
        std::string::npos);
  CHECK(tm_poison_get_mode() == TM_POISON_REPORT);
}

TEST_CASE("tm_safety_init rejects a malformed TIERMEM_POISON, naming the text and the choices") {
  setenv("TIERMEM_POISON", "on", 1);
  int rc = tm_safety_init();
  std::string msg = tm_last_error();
  unsetenv("TIERMEM_POISON");
  CHECK(rc == -EINVAL);
  CHECK(msg.find("TIERMEM_POISON='on' is not a poison mode; set TIERMEM_POISON=report") !=
        std::string::npos);
  CHECK(tm_poison_get_mode() == TM_POISON_REPORT);
  setenv("TIERMEM_POISON", "repair", 1);
  CHECK(tm_safety_init() == 0);
  unsetenv("TIERMEM_POISON");
  CHECK(tm_poison_get_mode() == TM_POISON_REPAIR);
  tm_poison_set_mode(TM_POISON_REPORT);
}

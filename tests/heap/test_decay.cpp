// Freed memory going back to its tier at the rate the program sets (decay), seen by tiermem's
// statistics and by the kernel (mincore for the range); and transparent huge pages on a node
// tier reaching the kernel (AnonHugePages in /proc/self/smaps). TIERMEM_EMULATE and
// TIERMEM_DECAY_MS for this binary are set in test_env.cpp.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "heap/heap.hpp"
#include "platform/mempolicy.hpp"
#include "tiermem/tiermem.h"

namespace {

constexpr std::size_t kPage = 4096;
constexpr std::size_t kBlock = 1 << 20;  // below jemalloc's oversize threshold: plain large blocks
constexpr std::size_t kBlocks = 48;      // a 48 MiB cold set

tm_tier *tier(const char *spec) {
  tm_tier *t = tm_tier_find(spec);
  const std::string why = tm_last_error();
  INFO(spec << ": " << why);
  REQUIRE(t != nullptr);
  return t;
}

// Bytes of [p, p + n) the kernel has resident (mincore: page-table or page-cache presence).
std::size_t resident(const void *p, std::size_t n) {
  const std::size_t pages = n / kPage;
  std::vector<unsigned char> vec(pages);
  REQUIRE(::mincore(const_cast<void *>(p), n, vec.data()) == 0);
  std::size_t in = 0;
  for (unsigned char v : vec) in += v & 1;
  return in * kPage;
}

struct ColdSet {
  std::vector<void *> blocks;
  std::size_t resident_bytes() const {
    std::size_t sum = 0;
    for (void *b : blocks) sum += resident(b, kBlock);
    return sum;
  }
};

ColdSet make_cold_set(tm_tier *t) {
  ColdSet s;
  for (std::size_t i = 0; i < kBlocks; ++i) {
    void *b = tm_malloc(t, kBlock);
    REQUIRE(b != nullptr);
    std::memset(b, 0x5a, kBlock);
    s.blocks.push_back(b);
  }
  REQUIRE(s.resident_bytes() == kBlocks * kBlock);
  return s;
}

// Frees the set; the resident check afterwards reads the blocks' old ranges (still mapped:
// the tier's slot keeps them, only the pages go).
void free_all(const ColdSet &s) {
  for (void *b : s.blocks) tm_free(b);
}

tm_tier_stats stats(tm_tier *t) {
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  return s;
}

void gives_back_at_once(const char *spec) {
  tm_tier *t = tier(spec);
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
  CHECK(tiermem::heap::decay_ms(t) == 0);
  ColdSet s = make_cold_set(t);
  const tm_tier_stats before = stats(t);
  CHECK(before.mapped >= kBlocks * kBlock);
  free_all(s);
  CHECK(s.resident_bytes() == 0);
  // `mapped` is address space taken from the tier, kept for reuse: decay frees pages, not it.
  CHECK(stats(t).mapped == before.mapped);
  CHECK(stats(t).allocated <= before.allocated - kBlocks * kBlock);
  // Reused memory is fresh: the purge's zeroes are what jemalloc believes it hands out.
  auto *z = static_cast<unsigned char *>(tm_calloc(t, 1, kBlock));
  REQUIRE(z != nullptr);
  std::size_t nonzero = 0;
  for (std::size_t i = 0; i < kBlock; ++i) nonzero += z[i] != 0;
  CHECK(nonzero == 0);
  tm_free(z);
}

void keeps_until_purged(const char *spec) {
  tm_tier *t = tier(spec);
  REQUIRE(tm_tier_set_decay_ms(t, -1) == 0);
  ColdSet s = make_cold_set(t);
  free_all(s);
  CHECK(s.resident_bytes() == kBlocks * kBlock);  // never decays by itself
  tiermem::heap::decay_now(t, /*all=*/false);     // nothing is due with decay -1
  CHECK(s.resident_bytes() == kBlocks * kBlock);
  tiermem::heap::decay_now(t, /*all=*/true);
  CHECK(s.resident_bytes() == 0);
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
}

void gives_back_after_its_time(const char *spec) {
  tm_tier *t = tier(spec);
  REQUIRE(tm_tier_set_decay_ms(t, 200) == 0);
  CHECK(tiermem::heap::decay_ms(t) == 200);
  ColdSet s = make_cold_set(t);
  free_all(s);
  MESSAGE(std::string(spec) << ": resident right after the free: " << s.resident_bytes() / 1024 << " KiB of "
               << kBlocks * kBlock / 1024);
  // Waits for the decay, asking jemalloc to run it (it otherwise runs only as the arena
  // allocates and frees); bounded, and not a timing assertion: a loaded machine only waits longer.
  std::size_t left = s.resident_bytes();
  for (int i = 0; i < 600 && left != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    tiermem::heap::decay_now(t, /*all=*/false);
    left = s.resident_bytes();
  }
  CHECK(left == 0);
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
}

// The AnonHugePages of the mapping (smaps entry) holding `p`, in KiB; -1 when none is found.
long anon_huge_kib(const void *p) {
  std::ifstream in("/proc/self/smaps");
  std::string line;
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  bool inside = false;
  while (std::getline(in, line)) {
    unsigned long lo = 0, hi = 0;
    if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2 && line.find(':') > line.find(' ')) {
      inside = lo <= at && at < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) {
      return std::stol(line.substr(std::strlen("AnonHugePages:")));
    }
  }
  return -1;
}

}  // namespace

TEST_CASE("a node tier with decay 0 gives a freed cold set back to the kernel at once") {
  gives_back_at_once("node:0");
}

TEST_CASE("an emulated tier with decay 0 punches a freed cold set out of its memfd at once") {
  gives_back_at_once("emulated:decay");
}

TEST_CASE("decay -1 keeps a freed cold set resident until a purge is forced") {
  keeps_until_purged("node:0");
  keeps_until_purged("emulated:decay");
}

TEST_CASE("a decay time gives a freed cold set back once it has passed") {
  gives_back_after_its_time("node:0");
  gives_back_after_its_time("emulated:decay");
}

TEST_CASE("TIERMEM_DECAY_MS is the decay of tiers the library opens") {
  // test_env.cpp sets 10001 (jemalloc's own default is 10000): every program, not only the
  // preload library, takes it.
  CHECK(tiermem::heap::decay_ms(tier("emulated:decayenv")) == 10001);
}

TEST_CASE("a decay out of range is refused with one line, and the tier keeps its decay") {
  tm_tier *t = tier("emulated:decay");
  REQUIRE(tm_tier_set_decay_ms(t, 250) == 0);
  for (long bad : {-2L, -1000L, 1'000'000'000'001L}) {
    CHECK(tm_tier_set_decay_ms(t, bad) == -EINVAL);
    const std::string why = tm_last_error();
    CHECK(why == "tiermem: decay " + std::to_string(bad) +
                     " ms is out of range; use -1 (never), 0 (at once) or milliseconds up to "
                     "1000000000000");
    CHECK(tiermem::heap::decay_ms(t) == 250);
  }
  CHECK(tm_set_decay_ms(-2) == -EINVAL);
  CHECK(std::string(tm_last_error()).rfind("tiermem: decay -2 ms is out of range", 0) == 0);
  CHECK(tm_tier_set_decay_ms(nullptr, 0) == -EINVAL);
  CHECK(std::string(tm_last_error()) == "tiermem: tm_tier_set_decay_ms(NULL, ...)");
}

TEST_CASE("huge pages on a node tier reach the kernel (AnonHugePages of its mapping)") {
  tm_tier *t = tier("node:0");
  const tiermem::platform::ThpMode mode = tiermem::platform::thp_mode();
  const int rc = tm_tier_set_huge_pages(t, 1);
  if (mode == tiermem::platform::ThpMode::never || mode == tiermem::platform::ThpMode::absent) {
    CHECK(rc == -ENOTSUP);
    CHECK(std::string(tm_last_error()).find("has no effect") != std::string::npos);
    MESSAGE("skipped: transparent huge pages are '" << tiermem::platform::thp_mode_name(mode)
                                                    << "' on this machine");
    return;
  }
  REQUIRE(rc == 0);
  REQUIRE(tm_tier_set_decay_ms(t, -1) == 0);  // keep the huge pages while we look
  constexpr std::size_t n = 16 << 20;
  auto *p = static_cast<unsigned char *>(tm_malloc(t, n));
  REQUIRE(p != nullptr);
  const long before = anon_huge_kib(p);
  REQUIRE(before >= 0);
  std::memset(p, 1, n);
  const long after = anon_huge_kib(p);
  INFO("AnonHugePages before " << before << " KiB, after " << after << " KiB");
  // At least 6 aligned 2 MiB ranges lie inside the 16 MiB block, so at least 12 MiB more.
  CHECK(after - before >= 12 * 1024);
  tm_free(p);
  tiermem::heap::decay_now(t, true);
  REQUIRE(tm_tier_set_huge_pages(t, 0) == 0);
  REQUIRE(tm_tier_set_decay_ms(t, 0) == 0);
}

TEST_CASE("huge pages are refused with one line for a tier that is not a node tier") {
  tm_tier *t = tier("emulated:decay");
  CHECK(tm_tier_set_huge_pages(t, 1) == -ENOTSUP);
  CHECK(std::string(tm_last_error()) ==
        "tiermem: tier 'emulated:decay' is not a node tier; transparent huge pages apply to "
        "node tiers only (a devdax tier maps in its device's align units already)");
  CHECK(tm_tier_set_huge_pages(nullptr, 1) == -EINVAL);
}

// Which tiers a policy offers, in which order (handles here are plain tags).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <doctest/doctest.h>

#include "policy/policy.hpp"

using namespace tiermem::policy;

namespace {

// Each distinct spec gets a small integer tag as its handle.
struct Tags {
  std::map<std::string, std::uintptr_t> ids;
  void *operator()(const TierTerm &t) {
    auto [it, fresh] = ids.emplace(t.spec, ids.size() + 1);
    return reinterpret_cast<void *>(it->second);
  }
};

std::uintptr_t first(Selector &s, std::size_t n) {
  void *out[16];
  REQUIRE(s.candidates(n, out, 16) >= 1);
  return reinterpret_cast<std::uintptr_t>(out[0]);
}

// Bytes each tag's tier got from `count` requests of `n` bytes; index 0 unused.
std::vector<std::uint64_t> split(Selector &s, std::size_t n, int count, std::size_t tiers) {
  std::vector<std::uint64_t> bytes(tiers + 1);
  for (int i = 0; i < count; ++i) bytes[first(s, n)] += n;
  return bytes;
}

// Two selectors of `text` on this thread, and 200 requests of mixed sizes: `each(a, b, n)`.
template <class Each>
void two_selectors(const char *text, Each each) {
  Tags tags;
  Selector a(parse(text), tags);
  Selector b(parse(text), tags);
  for (int i = 0; i < 200; ++i) {
    const std::size_t n = 16 + static_cast<std::size_t>(i % 7) * 700 + (i % 3) * 40000;
    each(a, b, n);
  }
}

// A policy of every kind the selector tells apart (Selector::Mode).
const char *const kEveryKind[] = {
    "preferred(node:0, node:1)",
    "interleave(node:0, node:1)",
    "interleave(node:0, node:1, node:2, node:3)",
    "interleave(node:0, node:0, node:1)",  // a tier named twice: the pick's own place counts
    "weighted(node:0=3, node:1=1)",
    "weighted(node:0=1, node:1=2, node:2=3)",
    "weighted(node:0=999983, node:1=999979)",  // lcm too large: exact products, never inline
    "threshold(1K, node:0, node:1)",
    "threshold(1K, node:0, threshold(64K, interleave(node:1, node:2), node:3))",
};

}  // namespace

TEST_CASE("preferred offers its tiers in the written order") {
  Tags tags;
  Selector s(parse("preferred(rank:0, rank:1, rank:2)"), tags);
  void *out[16];
  REQUIRE(s.candidates(100, out, 16) == 3);
  CHECK(out[0] == reinterpret_cast<void *>(1));
  CHECK(out[2] == reinterpret_cast<void *>(3));
  CHECK(s.candidates(100, out, 2) == 2);  // bounded by the caller's array
}

TEST_CASE("bind offers its single tier") {
  Tags tags;
  Selector s(parse("node:3"), tags);
  void *out[16];
  CHECK(s.candidates(1, out, 16) == 1);
}

TEST_CASE("interleave starts each request on the next tier and keeps the rest as fallbacks") {
  Tags tags;
  Selector s(parse("interleave(node:0, node:1, node:2)"), tags);
  CHECK(first(s, 8) == 1);
  CHECK(first(s, 8) == 2);
  CHECK(first(s, 8) == 3);
  void *out[16];
  REQUIRE(s.candidates(8, out, 16) == 3);
  CHECK(out[0] == reinterpret_cast<void *>(1));
  CHECK(out[1] == reinterpret_cast<void *>(2));
}

TEST_CASE("interleave rotates on each thread of its own, from the first tier") {
  Tags tags;
  Selector s(parse("interleave(node:0, node:1, node:2)"), tags);
  CHECK(first(s, 8) == 1);
  CHECK(first(s, 8) == 2);
  std::uintptr_t other = 0;
  std::thread([&] { other = first(s, 8); }).join();
  CHECK(other == 1);
  CHECK(first(s, 8) == 3);
}

TEST_CASE("a selector taking over a freed one's per-thread counters starts afresh") {
  Tags tags;
  {
    Selector gone(parse("interleave(node:0, node:1)"), tags);
    CHECK(first(gone, 8) == 1);
  }
  Selector s(parse("interleave(node:0, node:1)"), tags);
  CHECK(first(s, 8) == 1);
  CHECK(first(s, 8) == 2);
}

TEST_CASE("selectors beyond the per-thread counters rotate and split with shared ones") {
  Tags tags;
  std::vector<std::unique_ptr<Selector>> held;
  for (unsigned i = 0; i < Selector::kThreadStates; ++i) {
    held.push_back(std::make_unique<Selector>(parse("interleave(node:0, node:1)"), tags));
  }
  Selector s(parse("interleave(node:0, node:1, node:2)"), tags);
  CHECK(first(s, 8) == 1);
  CHECK(first(s, 8) == 2);
  CHECK(first(s, 8) == 3);
  CHECK(first(s, 8) == 1);
  Selector w(parse("weighted(node:0=3, node:1=1)"), tags);
  std::uint64_t bytes[3] = {};
  for (int i = 0; i < 400; ++i) bytes[first(w, 100)] += 100;
  CHECK(bytes[1] == 3 * bytes[2]);
}

TEST_CASE("weighted keeps the bytes of each tier in the given ratio") {
  Tags tags;
  Selector s(parse("weighted(node:0=3, node:1=1)"), tags);
  std::uint64_t bytes[3] = {};
  for (int i = 0; i < 1000; ++i) {
    std::size_t n = 64 + static_cast<std::size_t>(i % 13) * 100;
    bytes[first(s, n)] += n;
  }
  double ratio = static_cast<double>(bytes[1]) / static_cast<double>(bytes[2]);
  CHECK(ratio > 2.9);
  CHECK(ratio < 3.1);
}

TEST_CASE("threshold routes below the size to the first policy, else to the second") {
  Tags tags;
  Selector s(parse("threshold(1K, node:0, preferred(node:1, node:0))"), tags);
  CHECK(first(s, 1023) == 1);
  CHECK(first(s, 1024) == 2);
  CHECK(first(s, 1 << 30) == 2);
}

TEST_CASE("a threshold of up to four one-tier ranges routes every edge as the nested form") {
  Tags tags;
  Selector s(parse("threshold(1K, node:0, threshold(64K, node:1, threshold(1M, node:2, node:3)))"),
             tags);
  const std::pair<std::size_t, std::uintptr_t> edges[] = {
      {0, 1},         {1023, 1},        {1024, 2},         {65535, 2},      {65536, 3},
      {(1 << 20) - 1, 3}, {1 << 20, 4}, {SIZE_MAX - 1, 4}, {SIZE_MAX, 4}};
  for (auto [n, tag] : edges) {
    CAPTURE(n);
    CHECK(first(s, n) == tag);
    void *out[16];
    CHECK(s.candidates(n, out, 16) == 1);  // a one-tier range has no fallback
    CHECK(s.candidates(n, out, 0) == 0);
  }
  Selector two(parse("threshold(1K, node:0, node:1)"), tags);
  CHECK(first(two, 1023) == 1);
  CHECK(first(two, 1024) == 2);
  CHECK(first(two, SIZE_MAX) == 2);  // past the unused cuts of the table too
}

TEST_CASE("a threshold of five one-tier ranges routes every edge") {
  Tags tags;
  Selector s(parse("threshold(1K, node:0, threshold(2K, node:1, threshold(3K, node:2, "
                   "threshold(4K, node:3, node:4))))"),
             tags);
  const std::pair<std::size_t, std::uintptr_t> edges[] = {
      {1023, 1}, {1024, 2}, {2047, 2}, {2048, 3}, {3071, 3}, {3072, 4}, {4095, 4}, {4096, 5},
      {SIZE_MAX, 5}};
  for (auto [n, tag] : edges) {
    CAPTURE(n);
    CHECK(first(s, n) == tag);
  }
}

TEST_CASE("the pick's tier is the first candidate for every kind of policy") {
  // Two selectors of one text count alike on this thread: one answers pick(), the other
  // candidates(); the first choices must agree request by request.
  for (const char *text : kEveryKind) {
    CAPTURE(text);
    two_selectors(text, [](Selector &a, Selector &b, std::size_t n) {
      CHECK(reinterpret_cast<std::uintptr_t>(a.pick(n).handle()) == first(b, n));
    });
  }
}

TEST_CASE("nested thresholds route each range of sizes to its own branch") {
  Tags tags;
  Selector s(parse("threshold(1K, node:0, threshold(64K, interleave(node:1, node:2), node:3))"),
             tags);
  CHECK(first(s, 1) == 1);
  CHECK(first(s, 1023) == 1);
  CHECK(first(s, 1024) == 2);
  CHECK(first(s, 65535) == 3);
  CHECK(first(s, 65536) == 4);
  CHECK(first(s, SIZE_MAX) == 4);
}

TEST_CASE("a threshold branch that no size reaches still resolves its tiers, in text order") {
  Tags tags;
  Selector s(parse("threshold(1K, threshold(4K, node:0, node:1), node:2)"), tags);
  CHECK(tags.ids.size() == 3);
  CHECK(tags.ids.at("node:1") == 2);
  CHECK(first(s, 2000) == 3);  // the inner 4K cut lies beyond the outer 1K one
  CHECK(first(s, 100) == 1);
}

TEST_CASE("weighted with three tiers splits the bytes 1:2:3") {
  Tags tags;
  Selector s(parse("weighted(node:0=1, node:1=2, node:2=3)"), tags);
  CHECK(split(s, 100, 600, 3) == std::vector<std::uint64_t>{0, 10000, 20000, 30000});
}

TEST_CASE("weighted with weights of a large common multiple still splits in their ratio") {
  Tags tags;
  // lcm(999983, 999979) is near 10^12: too large to scale the counters, the exact products serve.
  Selector s(parse("weighted(node:0=999983, node:1=999979)"), tags);
  CHECK(split(s, 64, 1000, 2) == std::vector<std::uint64_t>{0, 32000, 32000});
}

TEST_CASE("weighted keeps its exact split when its counters are moved down near 2^63") {
  Tags tags;
  Selector s(parse("weighted(node:0=3, node:1=1)"), tags);
  // Requests of 2^61 bytes: the counters pass 2^63 within a few and are moved down.
  CHECK(split(s, std::size_t{1} << 61, 8, 2) ==
        std::vector<std::uint64_t>{0, 6ull << 61, 2ull << 61});
  // The small ones start from level counters: 3:1 again, exactly.
  CHECK(split(s, 100, 400, 2) == std::vector<std::uint64_t>{0, 30000, 10000});
}

namespace {

// How an allocation path without a frame picks: pick_inline(), else pick().
Selector::Pick pick_as_fast_path(Selector &s, std::size_t n, bool &inline_ok) {
  Selector::Pick p{};
  inline_ok = s.pick_inline(n, p);
  return inline_ok ? p : s.pick(n);
}

std::vector<void *> candidates_of(Selector::Pick p) {
  void *out[16];
  std::size_t k = Selector::candidates_from(p, out, 16);
  return std::vector<void *>(out, out + k);
}

}  // namespace

TEST_CASE("pick_inline, else pick, picks as pick does, and picked() restores its fallbacks") {
  // One selector answers pick(), the other the fast path's way, on one thread: the first
  // choices and the fallback lists must agree request by request.
  for (const char *text : kEveryKind) {
    CAPTURE(text);
    int inlined = 0;
    two_selectors(text, [&](Selector &a, Selector &b, std::size_t n) {
      const Selector::Pick want = a.pick(n);
      bool ok = false;
      const Selector::Pick got = pick_as_fast_path(b, n, ok);
      REQUIRE(got.handle() == want.handle());
      CHECK(candidates_of(got) == candidates_of(want));
      if (ok) {
        ++inlined;
        CHECK(candidates_of(b.picked(got.handle())) == candidates_of(want));
      }
    });
    const std::string t = text;
    if (t.find("999983") != std::string::npos || t.find("64K") != std::string::npos) {
      CHECK(inlined == 0);  // shared products, a nested threshold: always pick()
    } else {
      // All but a fresh selector's first request on this thread (its state to reset).
      CHECK(inlined >= 199);
    }
  }
}

TEST_CASE("pick_inline leaves a state to reset and a rebase to pick, and counts nothing then") {
  Tags tags;
  Selector s(parse("interleave(node:0, node:1)"), tags);
  Selector::Pick p{};
  CHECK_FALSE(s.pick_inline(8, p));  // this thread's state is not this selector's yet
  CHECK(first(s, 8) == 1);           // so the refusal counted nothing
  REQUIRE(s.pick_inline(8, p));
  CHECK(reinterpret_cast<std::uintptr_t>(p.handle()) == 2);

  Selector w(parse("weighted(node:0=3, node:1=1)"), tags);
  std::vector<std::uint64_t> bytes(3);
  int refused = 0;
  for (int i = 0; i < 8; ++i) {
    bool ok = false;
    const std::size_t n = std::size_t{1} << 61;
    bytes[reinterpret_cast<std::uintptr_t>(pick_as_fast_path(w, n, ok).handle())] += n;
    refused += ok ? 0 : 1;
  }
  CHECK(refused >= 2);  // the fresh state, and at least one rebase
  CHECK(bytes == std::vector<std::uint64_t>{0, 6ull << 61, 2ull << 61});
}

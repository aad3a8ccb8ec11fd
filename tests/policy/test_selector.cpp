// Which tiers a policy offers, in which order (handles here are plain tags).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <thread>
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

// Policies through the C ABI, on emulated tiers pa (64M), pb (64M), tiny (16M), slow (256M),
// lim and zero (64M; given limits here), fullx (16M, filled here).
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "tiermem/tiermem.h"

namespace {

tm_policy *policy(const char *text) {
  tm_policy *p = tm_policy_parse(text);
  const std::string why = tm_last_error();  // INFO keeps references: copy before it is read
  INFO(text << ": " << why);
  REQUIRE(p != nullptr);
  return p;
}

std::string name_of(void *p) { return tm_tier_name(tm_tier_of(p)); }

}  // namespace

TEST_CASE("bind places every block on its tier and fails with ENOMEM when it is full") {
  tm_policy *pol = policy("bind(emulated:tiny)");
  std::vector<void *> blocks;
  while (void *p = tm_policy_malloc(pol, 1 << 20)) {
    CHECK(name_of(p) == "emulated:tiny");
    blocks.push_back(p);
    REQUIRE(blocks.size() < 32);
  }
  CHECK(errno == ENOMEM);
  CHECK(std::string(tm_last_error()).find("bind(emulated:tiny)") != std::string::npos);
  for (void *p : blocks) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("preferred falls through to the next tier when the first is full, and counts it") {
  tm_policy *pol = policy("preferred(emulated:tiny, emulated:slow)");
  std::vector<void *> blocks;
  bool spilled = false;
  for (int i = 0; i < 40; ++i) {
    void *p = tm_policy_malloc(pol, 1 << 20);
    REQUIRE(p != nullptr);
    if (name_of(p) == "emulated:slow") spilled = true;
    else CHECK_FALSE(spilled);  // never back to tiny while it is full
    blocks.push_back(p);
  }
  CHECK(spilled);
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(tm_tier_find("emulated:tiny"), &s) == 0);
  CHECK(s.fallbacks >= 1);
  for (void *p : blocks) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("interleave rotates the tiers block by block") {
  tm_policy *pol = policy("interleave(emulated:pa, emulated:pb)");
  int on_a = 0, on_b = 0;
  std::vector<void *> blocks;
  for (int i = 0; i < 100; ++i) {
    void *p = tm_policy_malloc(pol, 1000);
    REQUIRE(p != nullptr);
    (name_of(p) == "emulated:pa" ? on_a : on_b)++;
    blocks.push_back(p);
  }
  CHECK(on_a == 50);
  CHECK(on_b == 50);
  for (void *p : blocks) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("weighted splits bytes in the given ratio") {
  tm_policy *pol = policy("weighted(emulated:pa=3, emulated:pb=1)");
  std::size_t bytes_a = 0, bytes_b = 0;
  std::vector<void *> blocks;
  for (int i = 0; i < 400; ++i) {
    std::size_t n = 1000 + static_cast<std::size_t>(i % 7) * 3000;
    void *p = tm_policy_malloc(pol, n);
    REQUIRE(p != nullptr);
    (name_of(p) == "emulated:pa" ? bytes_a : bytes_b) += n;
    blocks.push_back(p);
  }
  double ratio = static_cast<double>(bytes_a) / static_cast<double>(bytes_b);
  CHECK(ratio > 2.8);
  CHECK(ratio < 3.2);
  for (void *p : blocks) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("interleave and weighted fall back from a full tier on their fast paths, counting it") {
  tm_tier *full = tm_tier_find("emulated:fullx");
  REQUIRE(full != nullptr);
  for (const char *text :
       {"interleave(emulated:fullx, emulated:slow)", "weighted(emulated:fullx=1, emulated:slow=1)"}) {
    const std::string shown = text;
    CAPTURE(shown);
    tm_policy *pol = policy(text);
    tm_tier_stats before{}, after{};
    REQUIRE(tm_tier_stats_get(full, &before) == 0);
    // A thread of its own: its first small block makes fullx its bound tier (jemalloc's
    // plain malloc), and slow is served by its Front: both fast paths meet the full tier.
    std::size_t on_full = 0, on_slow = 0, failed = 0;
    std::thread([&] {
      std::vector<void *> blocks;
      for (int i = 0; i < 24000; ++i) {  // 48 MB: fullx's half alone is more than its 16 MB
        void *p = tm_policy_malloc(pol, 2048);
        if (p == nullptr) {
          ++failed;
          continue;
        }
        (name_of(p) == "emulated:fullx" ? on_full : on_slow)++;
        blocks.push_back(p);
      }
      for (void *p : blocks) tm_free(p);
    }).join();
    REQUIRE(tm_tier_stats_get(full, &after) == 0);
    CHECK(failed == 0);
    CHECK(on_full * 2048 <= (16u << 20));
    CHECK(on_full > 4000);   // it took blocks until it was full
    CHECK(on_slow > 12000);  // its own half, and what fullx could not hold
    CHECK(on_full + on_slow == 24000);
    CHECK(after.fallbacks > before.fallbacks);
    CHECK(after.failures > before.failures);
    tm_policy_free(pol);
  }
}

TEST_CASE("threshold sends small blocks to one policy and large ones to another") {
  tm_policy *pol = policy("threshold(4K, emulated:pa, preferred(emulated:pb, emulated:slow))");
  void *small = tm_policy_malloc(pol, 4095);
  void *large = tm_policy_malloc(pol, 4096);
  REQUIRE(small != nullptr);
  REQUIRE(large != nullptr);
  CHECK(name_of(small) == "emulated:pa");
  CHECK(name_of(large) == "emulated:pb");
  tm_free(small);
  tm_free(large);
  tm_policy_free(pol);
}

TEST_CASE("a per-tier limit in a policy makes preferred fall through early") {
  tm_policy *pol = policy("preferred(emulated:pb<=8M, emulated:slow)");
  CHECK(std::string(tm_policy_text(pol)) == "preferred(emulated:pb<=8M, emulated:slow)");
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(tm_tier_find("emulated:pb"), &s) == 0);
  CHECK(s.limit == (8u << 20));
  std::vector<void *> blocks;
  bool spilled = false;
  for (int i = 0; i < 20 && !spilled; ++i) {
    void *p = tm_policy_malloc(pol, 1 << 20);
    REQUIRE(p != nullptr);
    spilled = name_of(p) == "emulated:slow";
    blocks.push_back(p);
  }
  CHECK(spilled);
  REQUIRE(tm_tier_stats_get(tm_tier_find("emulated:pb"), &s) == 0);
  CHECK(s.mapped <= 8u << 20);
  for (void *p : blocks) tm_free(p);
  tm_tier_set_limit(tm_tier_find("emulated:pb"), UINT64_MAX);
  tm_policy_free(pol);
}

TEST_CASE("a policy limit below one extent still takes blocks up to it") {
  tm_policy *pol = policy("preferred(emulated:lim<=1M, emulated:slow)");
  std::vector<void *> blocks;
  int landed = 0;
  for (int i = 0; i < 40; ++i) {
    blocks.push_back(tm_policy_malloc(pol, 16 << 10));
    REQUIRE(blocks.back() != nullptr);
    landed += name_of(blocks.back()) == "emulated:lim";
  }
  CHECK(landed == 40);  // 640 KiB: all of it fits under the megabyte
  std::size_t bytes = static_cast<std::size_t>(landed) * (16 << 10);
  for (int i = 0; i < 4096; ++i) {  // then small blocks fill up most of what is left
    void *p = tm_policy_malloc(pol, 256);
    REQUIRE(p != nullptr);
    if (name_of(p) == "emulated:lim") bytes += tm_usable_size(p);
    blocks.push_back(p);
  }
  CHECK(bytes <= 1u << 20);
  CHECK(bytes >= 3u << 18);
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(tm_tier_find("emulated:lim"), &s) == 0);
  CHECK(s.mapped <= 1u << 20);
  for (void *p : blocks) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("a policy limit of 0 sends every block to the next tier, or fails a bind") {
  tm_tier *zero = tm_tier_find("emulated:zero");
  REQUIRE(zero != nullptr);
  void *warm = tm_malloc(zero, 64);  // memory the tier keeps for reuse is no way around it
  REQUIRE(warm != nullptr);
  tm_free(warm);
  tm_policy *pref = policy("preferred(emulated:zero<=0, emulated:slow)");
  void *p = tm_policy_malloc(pref, 64);
  REQUIRE(p != nullptr);
  CHECK(name_of(p) == "emulated:slow");
  tm_free(p);
  tm_policy *bind = policy("bind(emulated:zero<=0)");
  errno = 0;
  CHECK(tm_policy_malloc(bind, 64) == nullptr);
  CHECK(errno == ENOMEM);
  CHECK(std::string(tm_last_error()).find("its limit of 0 bytes is reached") != std::string::npos);
  tm_policy_free(bind);
  tm_policy_free(pref);
}

TEST_CASE("policy calloc and aligned_alloc follow the policy") {
  tm_policy *pol = policy("emulated:pa");
  auto *z = static_cast<unsigned char *>(tm_policy_calloc(pol, 100, 10));
  REQUIRE(z != nullptr);
  for (int i = 0; i < 1000; ++i) REQUIRE(z[i] == 0);
  void *a = tm_policy_aligned_alloc(pol, 1 << 16, 10);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % (1 << 16) == 0);
  CHECK(name_of(a) == "emulated:pa");
  CHECK(tm_policy_aligned_alloc(pol, 3, 10) == nullptr);
  CHECK(tm_policy_calloc(pol, SIZE_MAX, 2) == nullptr);
  tm_free(z);
  tm_free(a);
  tm_policy_free(pol);
}

namespace {

// Fills emulated:tiny with 1 MiB blocks until it refuses one; returns them.
std::vector<void *> fill_tiny() {
  tm_tier *tiny = tm_tier_find("emulated:tiny");
  REQUIRE(tiny != nullptr);
  std::vector<void *> blocks;
  while (void *p = tm_malloc(tiny, 1 << 20)) {
    blocks.push_back(p);
    REQUIRE(blocks.size() < 32);
  }
  return blocks;
}

}  // namespace

TEST_CASE("policy realloc moves a block off its full tier to the policy's next tier, bytes kept") {
  tm_policy *pol = policy("preferred(emulated:tiny, emulated:slow)");
  std::vector<void *> full = fill_tiny();
  REQUIRE(full.size() >= 2);
  auto *b = static_cast<unsigned char *>(full.back());
  full.pop_back();
  for (int i = 0; i < (1 << 20); ++i) b[i] = static_cast<unsigned char>(i * 7 + 3);
  errno = 0;
  CHECK(tm_realloc(b, 4 << 20) == nullptr);  // tm_realloc keeps a block on its tier
  CHECK(errno == ENOMEM);
  auto *q = static_cast<unsigned char *>(tm_policy_realloc(pol, b, 4 << 20));
  REQUIRE(q != nullptr);
  CHECK(name_of(q) == "emulated:slow");
  bool same = true;
  for (int i = 0; i < (1 << 20); ++i) same = same && q[i] == static_cast<unsigned char>(i * 7 + 3);
  CHECK(same);
  void *again = tm_malloc(tm_tier_find("emulated:tiny"), 1 << 20);  // b's room was given back
  CHECK(again != nullptr);
  if (again != nullptr) full.push_back(again);
  // Shrinking or growing where the tier has room stays in place or on the tier.
  void *small = tm_policy_realloc(pol, q, 100);
  REQUIRE(small != nullptr);
  CHECK(name_of(small) == "emulated:slow");
  tm_free(small);
  for (void *p : full) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("policy realloc on a bind policy whose tier is full fails and leaves the block") {
  tm_policy *pol = policy("bind(emulated:tiny)");
  std::vector<void *> full = fill_tiny();
  REQUIRE(!full.empty());
  auto *b = static_cast<unsigned char *>(full.back());
  b[0] = 42;
  errno = 0;
  CHECK(tm_policy_realloc(pol, b, 8 << 20) == nullptr);
  CHECK(errno == ENOMEM);
  CHECK(std::string(tm_last_error()).find("bind(emulated:tiny)") != std::string::npos);
  CHECK(b[0] == 42);
  CHECK(name_of(b) == "emulated:tiny");
  for (void *p : full) tm_free(p);
  tm_policy_free(pol);
}

TEST_CASE("policy realloc of NULL allocates by the policy, of 0 bytes frees, of a foreign block refuses") {
  tm_policy *pol = policy("emulated:pa");
  void *p = tm_policy_realloc(pol, nullptr, 100);
  REQUIRE(p != nullptr);
  CHECK(name_of(p) == "emulated:pa");
  CHECK(tm_policy_realloc(pol, p, 0) == nullptr);
  int local = 0;
  errno = 0;
  CHECK(tm_policy_realloc(pol, &local, 10) == nullptr);
  CHECK(errno == EINVAL);
  CHECK(std::string(tm_last_error()).find("tm_policy_realloc(") != std::string::npos);
  CHECK(std::string(tm_last_error()).find("not a pointer tiermem gave out") != std::string::npos);
  tm_policy_free(pol);
}

TEST_CASE("a NULL policy means the default one (TIERMEM_POLICY)") {
  void *p = tm_policy_malloc(nullptr, 10);
  REQUIRE(p != nullptr);
  CHECK(name_of(p) == "emulated:slow");
  tm_free(p);
  tm_policy_free(tm_policy_default());  // ignored: the default policy is not freed
  CHECK(tm_policy_default() != nullptr);
}

TEST_CASE("policy text with an unknown tier or bad syntax fails naming the text") {
  struct Case {
    const char *text;
    const char *says;
    int err;
  } cases[] = {
      {"preferred(emulated:nope, rank:0)", "no emulated tier 'nope'", ENOENT},
      {"bind(rank:0", "expected ')'", EINVAL},
      {"sometimes(rank:0)", "unknown policy 'sometimes'", EINVAL},
      {"weighted(emulated:pa=0)", "weight", EINVAL},
      {"bind(tier:0)", "'tier:0' is not a tier", EINVAL},
      {"", "expected a tier", EINVAL},
  };
  for (const auto &c : cases) {
    errno = 0;
    CHECK(tm_policy_parse(c.text) == nullptr);
    CHECK(errno == c.err);
    std::string msg = tm_last_error();
    INFO(c.text << " -> " << msg);
    CHECK(msg.find(c.says) != std::string::npos);
  }
  CHECK(tm_policy_parse(nullptr) == nullptr);
}

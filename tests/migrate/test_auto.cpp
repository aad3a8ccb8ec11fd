// The migrating policy auto(FAST<=SIZE, SLOW) through the C ABI (api/migration.cpp): blocks
// start on an emulated SLOW tier (a memfd, moved by copy and remap) and the engine moves the
// hot ones to node 0 and back. The host's kernel may keep no soft-dirty bits, so the engine
// here learns which units are hot from the tests (a WriteSource naming the blocks they call
// hot) instead of the kernel; everything else is the library's own path: the policy, the
// heap, the engine's thread, fences, copies, mremap, fork, statistics. The soft-dirty source
// itself is exercised on a real kernel (tests/vm).
#include <doctest/doctest.h>
#include <sys/wait.h>
#include <csignal>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "api/migration.hpp"
#include "api/policy_check.hpp"
#include "policy/policy.hpp"
#include "support.hpp"
#include "tiermem/tiermem.h"
#include "tiermem/topology.hpp"

namespace {

const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "slow:256M,other:64M", 1);
  return 0;
}();

constexpr std::size_t kUnit = std::size_t{2} << 20;

// The units the tests call written, with the pages of each that count as written at every
// scan; set_hot: every page.
struct Written {
  const char *block;
  std::uint32_t pages;
};
std::mutex g_hot_mu;
std::vector<Written> g_hot;

void set_written(std::vector<Written> blocks) {
  std::lock_guard<std::mutex> lock(g_hot_mu);
  g_hot = std::move(blocks);
}

void set_hot(const std::vector<const char *> &blocks) {
  std::vector<Written> w;
  for (const char *p : blocks) w.push_back({p, static_cast<std::uint32_t>(kUnit / 4096)});
  set_written(std::move(w));
}

int hot_written(const void *addr, std::size_t len, std::size_t unit, std::vector<std::uint32_t> &counts) {
  counts.assign(len / unit, 0);
  const auto *base = static_cast<const char *>(addr);
  std::lock_guard<std::mutex> lock(g_hot_mu);
  for (const Written &w : g_hot)
    if (w.block >= base && w.block < base + len)
      counts[static_cast<std::size_t>(w.block - base) / unit] = w.pages;
  return 0;
}

// Quick pacing, installed before the first auto policy of the process.
void fast_pacing() {
  static const bool once = [] {
    tiermem::api::migration_engine().set_write_source({hot_written, [] {}});
    tm_migrate_config c{};
    c.interval_ms = 20;
    c.min_residency_ms = 100;
    c.cpu_share = 1;
    REQUIRE(tm_migrate_configure(&c) == 0);
    return true;
  }();
  (void)once;
}

struct Auto {
  tm_policy *pol;
  tm_tier *slow, *fast;
  // One FAST and budget per process: every case uses the same (when the cases run in one
  // process, as under the sanitizers).
  explicit Auto(const char *text = "auto(node:0<=4M, emulated:slow)") {
    fast_pacing();
    pol = tm_policy_parse(text);
    INFO(tm_last_error());
    REQUIRE(pol != nullptr);
    slow = tm_tier_find("emulated:slow");
    fast = tm_tier_find("node:0");
    REQUIRE(slow != nullptr);
    REQUIRE(fast != nullptr);
  }
  ~Auto() { tm_policy_free(pol); }
  // One block filling one unit exactly: it moves alone.
  char *unit_block() {
    auto *p = static_cast<char *>(tm_policy_aligned_alloc(pol, kUnit, kUnit));
    REQUIRE(p != nullptr);
    return p;
  }
};

tm_tier_stats stats_of(tm_tier *t) {
  tm_tier_stats s{};
  REQUIRE(tm_tier_stats_get(t, &s) == 0);
  return s;
}

// Polls `done` until it holds; a failure after 30 s (a bound, not a measure).
template <class F>
bool eventually(F &&done) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!done()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

void fill(char *p, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = (std::uint64_t{seed} << 40) ^ i;
    std::memcpy(p + i, &v, 8);
  }
}

bool holds(const char *p, std::size_t n, unsigned seed) {
  for (std::size_t i = 0; i < n; i += 8) {
    std::uint64_t v = 0;
    std::memcpy(&v, p + i, 8);
    if (v != ((std::uint64_t{seed} << 40) ^ i)) return false;
  }
  return true;
}

}  // namespace

// Three unit blocks filled with seeds 1, 2, 3.
struct Three {
  char *x, *y, *z;
  explicit Three(Auto &a) : x(a.unit_block()), y(a.unit_block()), z(a.unit_block()) {
    fill(x, kUnit, 1);
    fill(y, kUnit, 2);
    fill(z, kUnit, 3);
  }
};

TEST_CASE("a hot block of an auto policy moves to FAST and back while tm_tier_of answers SLOW") {
  Auto a;  // a budget of two units
  auto [x, y, z] = Three(a);
  CHECK(tm_tier_of(x) == a.slow);
  CHECK(tm_tier_now(x) == a.slow);  // a block starts on SLOW
  const tm_tier_stats s0 = stats_of(a.slow);
  set_hot({x});
  REQUIRE(eventually([&] { return tm_tier_now(x) == a.fast; }));
  CHECK(tm_tier_of(x) == a.slow);  // its home does not change
  CHECK(holds(x, kUnit, 1));
  // The budget holds two units: y and z, hot now, take the room, x goes back to SLOW.
  set_hot({y, z});
  REQUIRE(eventually([&] {
    return tm_tier_now(y) == a.fast && tm_tier_now(z) == a.fast && tm_tier_now(x) == a.slow;
  }));
  CHECK(holds(x, kUnit, 1));
  CHECK(holds(y, kUnit, 2));
  CHECK(holds(z, kUnit, 3));
  set_hot({});
  const tm_tier_stats s = stats_of(a.slow), f = stats_of(a.fast);
  CHECK(s.promoted_bytes - s0.promoted_bytes >= 3 * kUnit);
  CHECK(s.demoted_bytes - s0.demoted_bytes >= kUnit);
  CHECK(s.moved_back_10s_bytes <= s.demoted_bytes);
  CHECK(s.fast_resident_bytes == 2 * kUnit);
  CHECK(s.tracking_scans > 0);
  // The moves' share of the thread's time: some, never more than the whole.
  CHECK(s.moving_cpu_ns > 0);
  CHECK(s.moving_cpu_ns <= s.tracking_cpu_ns);
  CHECK(f.promoted_bytes >= s.promoted_bytes);  // FAST's view: every SLOW tier's moves
  CHECK(f.fast_resident_bytes == 2 * kUnit);
  CHECK(stats_of(tm_tier_find("emulated:other")).promoted_bytes == 0);  // no migration there
  char *json = tm_stats_json();
  REQUIRE(json != nullptr);
  const std::string doc = json;
  std::free(json);
  for (const char *key : {"promoted_bytes", "demoted_bytes", "moved_back_10s_bytes",
                          "fast_resident_bytes", "tracking_scans", "tracking_cpu_ns", "moving_cpu_ns"})
    CHECK(doc.find(std::string("\"") + key + "\"") != std::string::npos);
  tm_free(x);
  tm_free(y);
  tm_free(z);
}

TEST_CASE("a unit written less than the average written unit stays on SLOW") {
  Auto a;  // a budget of two units
  // Blocks whose units are on SLOW now (an earlier case in the same process may have left
  // two units of the tier on FAST, and a new block may reuse them).
  std::vector<char *> blocks, on_slow;
  for (int i = 0; i < 5; ++i) {
    blocks.push_back(a.unit_block());
    if (tm_tier_now(blocks.back()) == a.slow) on_slow.push_back(blocks.back());
  }
  REQUIRE(on_slow.size() >= 3);
  char *x = on_slow[0], *y = on_slow[1], *z = on_slow[2];
  fill(x, kUnit, 1);
  fill(y, kUnit, 2);
  // x written all over, y on 8 of its 512 pages: the average written unit scores 260.
  set_written({{x, 512}, {y, 8}});
  REQUIRE(eventually([&] { return tm_tier_now(x) == a.fast; }));
  const std::uint64_t scans = stats_of(a.fast).tracking_scans;
  REQUIRE(eventually([&] { return stats_of(a.fast).tracking_scans >= scans + 20; }));
  CHECK(tm_tier_now(y) == a.slow);  // written, but far less than x: it is not moved
  CHECK(tm_tier_now(z) == a.slow);  // never written
  // Once it is as hot as x, it moves too (the budget holds both).
  set_written({{x, 512}, {y, 512}});
  REQUIRE(eventually([&] { return tm_tier_now(y) == a.fast; }));
  CHECK(tm_tier_now(x) == a.fast);
  set_hot({});
  CHECK(holds(x, kUnit, 1));
  CHECK(holds(y, kUnit, 2));
  for (char *b : blocks) tm_free(b);
}

TEST_CASE("contents stay byte for byte while threads write and read blocks that migrate") {
  Auto a;  // a budget of two units
  constexpr int kBlocks = 8, kWriters = 4;
  std::vector<char *> blocks;
  for (int i = 0; i < kBlocks; ++i) blocks.push_back(a.unit_block());
  std::atomic<bool> stop{false};
  std::atomic<int> bad{0};
  std::atomic<std::uint64_t> over_budget{0};
  // Each writer owns two blocks: it writes a generation over all of a block, then reads it
  // back. Readers check every word of every block: whatever generation, its block and offset.
  // Relaxed atomics: the threads share words on purpose; the engine's copy is the subject.
  auto word = [](int block, std::size_t off, std::uint64_t gen) {
    return (std::uint64_t(block) << 56) | (std::uint64_t(off) << 16) | (gen & 0xffff);
  };
  for (int i = 0; i < kBlocks; ++i) {
    for (std::size_t j = 0; j < kUnit / 8; j += 61)
      reinterpret_cast<std::uint64_t *>(blocks[i])[j] = word(i, j, 0);
  }
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (std::uint64_t gen = 0; !stop.load(); ++gen) {
        for (int b = 2 * w; b < 2 * w + 2; ++b) {
          auto *q = reinterpret_cast<std::uint64_t *>(blocks[b]);
          for (std::size_t i = 0; i < kUnit / 8; i += 61) __atomic_store_n(&q[i], word(b, i, gen), __ATOMIC_RELAXED);
          for (std::size_t i = 0; i < kUnit / 8; i += 61)
            if (__atomic_load_n(&q[i], __ATOMIC_RELAXED) != word(b, i, gen)) bad.fetch_add(1);
        }
      }
    });
  }
  threads.emplace_back([&] {
    while (!stop.load()) {
      for (int b = 0; b < kBlocks; ++b) {
        const auto *q = reinterpret_cast<const std::uint64_t *>(blocks[b]);
        for (std::size_t i = 0; i < kUnit / 8; i += 61)
          if ((__atomic_load_n(&q[i], __ATOMIC_RELAXED) & ~std::uint64_t{0xffff}) !=
              (word(b, i, 0) & ~std::uint64_t{0xffff}))
            bad.fetch_add(1);
      }
    }
  });
  // The hot pair moves round the blocks, so units go up and come down while written.
  const tm_tier_stats before = stats_of(a.slow);
  for (int round = 0; round < 400; ++round) {
    set_hot({blocks[round % kBlocks], blocks[(round + 3) % kBlocks]});
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    const tm_tier_stats s = stats_of(a.slow);
    if (s.fast_resident_bytes > 2 * kUnit) over_budget.fetch_add(1);
    if (s.demoted_bytes - before.demoted_bytes >= 6 * kUnit) break;
  }
  stop.store(true);
  for (auto &t : threads) t.join();
  set_hot({});
  const tm_tier_stats s = stats_of(a.slow);
  CHECK(s.demoted_bytes - before.demoted_bytes >= 6 * kUnit);  // it did move, both ways
  CHECK(bad.load() == 0);
  CHECK(over_budget.load() == 0);
  for (char *b : blocks) tm_free(b);
}

TEST_CASE("the budget is never exceeded however many units are hot") {
  Auto a;
  std::vector<char *> blocks;
  for (int i = 0; i < 10; ++i) blocks.push_back(a.unit_block());
  set_hot({blocks.begin(), blocks.end()});
  std::uint64_t highest = 0;
  REQUIRE(eventually([&] {
    const std::uint64_t now = stats_of(a.fast).fast_resident_bytes;
    highest = std::max(highest, now);
    return now == 2 * kUnit;
  }));
  // Sampled over more scans, with the hot set changing under it.
  const std::uint64_t scans = stats_of(a.fast).tracking_scans;
  for (int i = 0; stats_of(a.fast).tracking_scans < scans + 40; ++i) {
    if (i % 20 == 0) set_hot({blocks.begin() + (i / 20) % 5, blocks.begin() + (i / 20) % 5 + 5});
    highest = std::max<std::uint64_t>(highest, stats_of(a.fast).fast_resident_bytes);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  set_hot({});
  CHECK(highest == 2 * kUnit);
  int on_fast = 0;
  for (char *b : blocks) on_fast += tm_tier_now(b) == a.fast;
  CHECK(on_fast <= 2);
  for (char *b : blocks) tm_free(b);
}

TEST_CASE("blocks freed and reallocated while their units move keep their bytes") {
  Auto a;
  // Small blocks share units: one hot unit moves all of them.
  std::vector<char *> small;
  for (int i = 0; i < 64; ++i) {
    small.push_back(static_cast<char *>(tm_policy_malloc(a.pol, 4096 * (1 + i % 7))));
    REQUIRE(small.back() != nullptr);
    fill(small.back(), 4096 * (1 + i % 7), 100 + i);
  }
  char *big = a.unit_block();
  fill(big, kUnit, 7);
  set_hot({big, small[0], small[63]});
  REQUIRE(eventually([&] { return tm_tier_now(big) == a.fast; }));
  // Across a move: realloc to a larger block copies it elsewhere on SLOW, byte for byte.
  auto *grown = static_cast<char *>(tm_realloc(big, 3 * kUnit));
  REQUIRE(grown != nullptr);
  CHECK(tm_tier_of(grown) == a.slow);
  CHECK(holds(grown, kUnit, 7));
  // Freed and allocated again while the engine keeps moving the units they lie in (named
  // by the blocks' first addresses: `small` is the churning thread's).
  const std::vector<char *> places = small;
  std::atomic<bool> stop{false};
  std::thread churn([&] {
    for (unsigned round = 0; !stop.load(); ++round) {
      const std::size_t i = round % small.size();
      const std::size_t n = 4096 * (1 + i % 7);
      if (!holds(small[i], n, 100 + static_cast<unsigned>(i))) {
        stop.store(true);
        break;
      }
      tm_free(small[i]);
      small[i] = static_cast<char *>(tm_policy_malloc(a.pol, n));
      if (small[i] == nullptr) break;
      fill(small[i], n, 100 + static_cast<unsigned>(i));
    }
  });
  const std::uint64_t moved = stats_of(a.slow).promoted_bytes + stats_of(a.slow).demoted_bytes;
  for (int round = 0; round < 300; ++round) {
    set_hot({places[round % 64], places[(round * 7) % 64], grown + kUnit});
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    const tm_tier_stats s = stats_of(a.slow);
    if (s.promoted_bytes + s.demoted_bytes >= moved + 6 * kUnit) break;
  }
  const bool churn_failed = stop.exchange(true);
  churn.join();
  set_hot({});
  CHECK_FALSE(churn_failed);
  for (std::size_t i = 0; i < small.size(); ++i) {
    REQUIRE(small[i] != nullptr);
    CHECK(holds(small[i], 4096 * (1 + i % 7), 100 + static_cast<unsigned>(i)));
    tm_free(small[i]);
  }
  CHECK(holds(grown, kUnit, 7));
  auto *shrunk = static_cast<char *>(tm_realloc(grown, kUnit / 2));
  REQUIRE(shrunk != nullptr);
  CHECK(holds(shrunk, kUnit / 2, 7));
  tm_free(shrunk);
}

TEST_CASE("a child forked while units are on FAST keeps every block and can allocate, moving nothing") {
  Auto a;
  std::vector<char *> blocks;
  for (int i = 0; i < 4; ++i) {
    blocks.push_back(a.unit_block());
    fill(blocks.back(), kUnit, 10 + i);
  }
  char *small = static_cast<char *>(tm_policy_malloc(a.pol, 1000));
  REQUIRE(small != nullptr);
  fill(small, 1000, 99);
  set_hot({blocks[0], blocks[1]});
  REQUIRE(eventually([&] { return tm_tier_now(blocks[0]) == a.fast && tm_tier_now(blocks[1]) == a.fast; }));
  // A promoted unit written after its move, where the memfd below it has never been written:
  // the child's copy must come from the address (Backend::set_migrating).
  fill(blocks[1] + kUnit / 2, kUnit / 2, 77);
  const pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    int failed = 0;
    for (int i = 0; i < 4; ++i) {
      if (!holds(blocks[i], i == 1 ? kUnit / 2 : kUnit, 10 + i)) failed |= 1;
      if (tm_tier_now(blocks[i]) != tm_tier_of(blocks[i])) failed |= 2;
    }
    if (!holds(blocks[1] + kUnit / 2, kUnit / 2, 77)) failed |= 1;
    if (!holds(small, 1000, 99)) failed |= 1;
    char *p = static_cast<char *>(tm_policy_malloc(a.pol, 3 * kUnit));
    if (p == nullptr || tm_tier_of(p) != a.slow) failed |= 4;
    if (p != nullptr) {
      fill(p, 3 * kUnit, 5);
      if (!holds(p, 3 * kUnit, 5)) failed |= 4;
      tm_free(p);
    }
    fill(blocks[0], kUnit, 55);  // the child's own copy: the parent must not see it
    if (tm_migrate_resume() != -ENOTSUP) failed |= 8;
    if (stats_of(a.slow).promoted_bytes != 0) failed |= 16;
    _exit(failed);
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(holds(blocks[0], kUnit, 10));
  CHECK(holds(blocks[1] + kUnit / 2, kUnit / 2, 77));
  // The parent's engine goes on.
  const std::uint64_t scans = stats_of(a.slow).tracking_scans;
  CHECK(eventually([&] { return stats_of(a.slow).tracking_scans > scans; }));
  set_hot({});
  for (char *b : blocks) tm_free(b);
  tm_free(small);
}

TEST_CASE("pause stops the moves and leaves every block valid where it is; resume starts them") {
  Auto a;  // a budget of two units
  auto [x, y, z] = Three(a);
  set_hot({x});
  REQUIRE(eventually([&] { return tm_tier_now(x) == a.fast; }));
  REQUIRE(tm_migrate_pause() == 0);
  const tm_tier_stats paused = stats_of(a.slow);
  // Where y and z are (a unit freed by an earlier case may still be on FAST) stays so.
  tm_tier *y_was = tm_tier_now(y), *z_was = tm_tier_now(z);
  set_hot({y, z});
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // many intervals' worth
  const tm_tier_stats still = stats_of(a.slow);
  CHECK(still.tracking_scans == paused.tracking_scans);
  CHECK(still.promoted_bytes == paused.promoted_bytes);
  CHECK(tm_tier_now(x) == a.fast);
  CHECK(tm_tier_now(y) == y_was);
  CHECK(tm_tier_now(z) == z_was);
  fill(x, kUnit, 5);  // writable where it is
  CHECK(holds(x, kUnit, 5));
  CHECK(holds(y, kUnit, 2));
  REQUIRE(tm_migrate_resume() == 0);
  REQUIRE(eventually([&] {
    return tm_tier_now(y) == a.fast && tm_tier_now(z) == a.fast && tm_tier_now(x) == a.slow;
  }));
  CHECK(holds(x, kUnit, 5));
  CHECK(holds(y, kUnit, 2));
  CHECK(holds(z, kUnit, 3));
  set_hot({});
  tm_free(x);
  tm_free(y);
  tm_free(z);
}

TEST_CASE("tm_tier_now answers NULL for NULL and a foreign pointer, and the home tier elsewhere") {
  int local = 0;
  CHECK(tm_tier_now(nullptr) == nullptr);
  CHECK(tm_tier_now(&local) == nullptr);
  tm_tier *other = tm_tier_find("emulated:other");
  REQUIRE(other != nullptr);
  void *p = tm_malloc(other, 100);
  REQUIRE(p != nullptr);
  CHECK(tm_tier_now(p) == other);
  tm_free(p);
}

TEST_CASE("bad auto policies are refused with one line naming the tier and the remedy") {
  struct Case {
    const char *text, *says;
    int code;
  } cases[] = {
      {"auto(emulated:other<=8M, emulated:slow)",
       "the fast tier 'emulated:other' is an emulated tier, not one NUMA node; name one node (e.g. node:0)", -EINVAL},
      {"auto(node:0<=1T, emulated:slow)", "is more than the fast tier 'node:0' holds (", -EINVAL},
      {"auto(node:0<=8M, node:0)", "'node:0' and 'node:0' are the same tier; name two different tiers", -EINVAL},
      {"auto(node:0<=8M, rank:0)", "'node:0' and 'rank:0' are the same tier", -EINVAL},
      {"auto(node:0<=8M, emulated:nosuch)", "no emulated tier 'nosuch'", -ENOENT},
  };
  for (const auto &c : cases) {
    INFO(c.text);
    CHECK(tm_policy_check(c.text) == c.code);
    const std::string msg = tm_last_error();
    INFO(msg);
    CHECK(msg.find(c.says) != std::string::npos);
    CHECK(msg.find('\n') == std::string::npos);
    CHECK(tm_policy_parse(c.text) == nullptr);  // the heap refuses what the check refuses
  }
}

TEST_CASE("on a recorded machine, a slow tier ranked faster and a slow tier of several nodes are refused") {
  tiermem::DiscoverOptions o;
  o.fsroot = tiermem::test::machine("hwloc/fakeheteromemtiers");
  tiermem::Topology topo = tiermem::Topology::discover(o);
  auto check = [&](const char *text) {
    const std::string why = tiermem::test::error_of([&] { tiermem::api::check_auto(tiermem::policy::parse(text), topo); });
    return why;
  };
  // Node 2 lies in that machine's rank 0 (HBM), node 6 in its rank 2 (NVM).
  CHECK(check("auto(node:6<=8M, node:2)") ==
        "tiermem: policy 'auto(node:6<=8M, node:2)': the slow tier 'node:2' (rank 0) is ranked faster than "
        "the fast tier 'node:6' (rank 2); name the faster tier first: auto(FAST<=SIZE, SLOW)");
  CHECK(check("auto(node:2<=8M, node:6)").empty());
  CHECK(check("auto(node:2<=8M, rank:1)").find("the slow tier 'rank:1' is nodes 0,1; migration moves between one slow node") !=
        std::string::npos);
}

TEST_CASE("a second auto policy with another fast tier or budget is refused naming the first") {
  Auto a;
  tm_policy *same = tm_policy_parse("auto(node:0<=4M, emulated:other)");
  CHECK(same != nullptr);  // the same FAST and budget: another SLOW tier joins
  tm_policy_free(same);
  CHECK(tm_policy_parse("auto(node:0<=8M, emulated:other)") == nullptr);
  const std::string msg = tm_last_error();
  CHECK(msg.find("migration already runs for policy 'auto(node:0<=4M, emulated:slow)'") != std::string::npos);
  CHECK(msg.find("name the same ones") != std::string::npos);
}

TEST_CASE("tm_migrate_configure refuses NULL and a CPU share that is not above 0 and at most 1") {
  CHECK(tm_migrate_configure(nullptr) == -EINVAL);
  CHECK(std::string(tm_last_error()) == "tiermem: tm_migrate_configure(NULL)");
  tm_migrate_config c{};
  c.cpu_share = 1.5;
  CHECK(tm_migrate_configure(&c) == -EINVAL);
  CHECK(std::string(tm_last_error()).find("cpu_share 1.5") != std::string::npos);
  c.cpu_share = -0.1;
  CHECK(tm_migrate_configure(&c) == -EINVAL);
  c = tm_migrate_config{};
  CHECK(tm_migrate_configure(&c) == 0);  // all zero: everything kept
}

// Last: it leaves SLOW's tier marked as holding poison, as a real error would.
TEST_CASE("a unit holding poison stays on SLOW, its block quarantined when freed, while others move") {
  Auto a;
  char *x = a.unit_block();
  char *y = a.unit_block();
  fill(x, kUnit, 8);
  fill(y, kUnit, 9);
  const tm_tier_stats before = stats_of(a.slow);
  // What the kernel delivers for an error found by the memory scrubber (no access lost).
  siginfo_t si{};
  si.si_signo = SIGBUS;
  si.si_code = BUS_MCEERR_AO;
  si.si_addr = x + 4096;
  si.si_addr_lsb = 12;
  REQUIRE(tm_sigbus_forward(SIGBUS, &si, nullptr) == 1);
  // The move's machine-check-safe copy stops at the known poison: x's unit stays, for good.
  set_hot({x, y});
  REQUIRE(eventually([&] { return tm_tier_now(y) == a.fast; }));
  const std::uint64_t scans = stats_of(a.slow).tracking_scans;
  REQUIRE(eventually([&] { return stats_of(a.slow).tracking_scans > scans + 10; }));
  CHECK(tm_tier_now(x) == a.slow);
  set_hot({});
  CHECK(holds(y, kUnit, 9));
  tm_free(x);
  tm_free(y);
  const tm_tier_stats after = stats_of(a.slow);
  CHECK(after.quarantined_blocks == before.quarantined_blocks + 1);
  CHECK(after.quarantined >= before.quarantined + kUnit);
}

#if defined(__SANITIZE_THREAD__)
// jemalloc's fork handler holds more than 64 locks at once (see tests/heap/test_env.cpp).
extern "C" const char *__tsan_default_options() { return "detect_deadlocks=0"; }
#endif

// HeMem's GUPS with a hot set (issue 17): random 8-byte updates over a region several times the
// fast tier's share, about 90% of them to a hot set of 1/8 of the region, the hot set moved
// to other addresses every few seconds. The region starts on the slow node. The benchmark knows
// its hot set, so it asks the kernel (move_pages without targets, over a sample of the hot
// set's pages) what share of the hot bytes sits on the fast node, every half second, and
// reports: that share over time, the time from the start and from each move to 90%, the
// kernel's migration counters (/proc/vmstat), the updates per second, and ping-pong: of a
// fixed sample of the region's pages, the moves back to the slow node within 10 s of arriving
// on the fast one, as a share of all moves to the fast node.
//
// Placement, not speed, is the measure: in the tests/vm guest the "slow" node is not slower.
// The mover is whoever runs beside it: the kernel's own tiering (numa_balancing=2 with
// demotion, the slow node in a lower memory tier), or tiermem's migrating policy, in the same
// guest (the vm.gups-kernel scenario). Nothing here asserts a time.
//
//   TIERMEM_GUPS_FAST / TIERMEM_GUPS_SLOW   node numbers (default: the first two with memory)
//   TIERMEM_GUPS_MIB    region size (default 256)
//   TIERMEM_GUPS_FAST_MIB   what the fast node may hold of it (default a quarter): tiermem's
//                       budget; for the kernel, the rest of the fast node's free memory is
//                       taken by locked pages for the run, so that it has to demote to promote
//   TIERMEM_GUPS_SECONDS, TIERMEM_GUPS_MOVE_SECONDS   run length and hot-set period (30, 10)
//   TIERMEM_GUPS_TIMELINE   a file for the timeline (CSV: seconds, hot share on fast, updates/s)
//   TIERMEM_GUPS_MOVER  "tiermem": the region is one block of tiermem's policy
//                       auto(node:FAST<=FAST_MIB, SLOW), allocated with tm_policy_aligned_alloc
//                       as a program would, and tiermem's engine moves it; "tiermem-off": the
//                       same block with the engine paused before the policy (it never starts:
//                       no tracking, nothing moves), the baseline of what tracking costs;
//                       otherwise an
//                       anonymous mapping born on the slow node, and whatever the kernel does
//                       (numa_balancing as the caller set it)
//   TIERMEM_GUPS_CPU    the engine's CPU budget, a share of one core (tm_migrate_configure;
//                       default the engine's own, 0.03)
//   TIERMEM_GUPS_DAX    with the tiermem mover: SLOW is dax:daxX.Y (this /dev/daxX.Y, in devdax
//                       mode) instead of the slow node (no kernel mechanism moves such memory)
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <numaif.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tiermem/tiermem.h"

namespace {

constexpr size_t kPage = 4096;
using Clock = std::chrono::steady_clock;

long env_long(const char *name, long fallback) {
  const char *v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::strtol(v, nullptr, 10) : fallback;
}

std::vector<int> memory_nodes() {
  std::ifstream f("/sys/devices/system/node/has_memory");
  std::string list;
  std::getline(f, list);
  std::vector<int> nodes;
  std::stringstream ss(list);
  std::string part;
  while (std::getline(ss, part, ',')) {
    const size_t dash = part.find('-');
    const int lo = std::atoi(part.c_str());
    const int hi = dash == std::string::npos ? lo : std::atoi(part.c_str() + dash + 1);
    for (int n = lo; n <= hi; ++n) nodes.push_back(n);
  }
  return nodes;
}

std::map<std::string, long long> vmstat() {
  std::ifstream f("/proc/vmstat");
  std::map<std::string, long long> m;
  std::string k;
  long long v;
  while (f >> k >> v) m[k] = v;
  return m;
}

// Share of the hot set's sampled pages on `fast`, asked of the kernel.
double hot_share(char *hot, size_t hot_bytes, int fast, std::mt19937_64 &rng) {
  constexpr size_t kSample = 2048;
  std::vector<void *> pages(kSample);
  std::vector<int> status(kSample);
  const size_t npages = hot_bytes / kPage;
  for (size_t i = 0; i < kSample; ++i) pages[i] = hot + (rng() % npages) * kPage;
  if (::move_pages(0, kSample, pages.data(), nullptr, status.data(), 0) != 0) return -1;
  size_t on = 0;
  for (int s : status) on += s == fast;
  return static_cast<double>(on) / kSample;
}

long long node_free_kib(int node) {
  std::ifstream f("/sys/devices/system/node/node" + std::to_string(node) + "/meminfo");
  std::string line;
  while (std::getline(f, line)) {
    const size_t at = line.find("MemFree:");
    if (at != std::string::npos) return std::atoll(line.c_str() + at + 8);
  }
  return -1;
}

// Locked pages on `node` leaving about `leave` bytes of it free: what the fast tier may hold.
struct Hog {
  void *p = nullptr;
  size_t len = 0;
  bool take(int node, size_t leave, std::string &why) {
    const long long free_kib = node_free_kib(node);
    if (free_kib < 0) {
      why = "cannot read node " + std::to_string(node) + "'s MemFree";
      return false;
    }
    const size_t free_bytes = static_cast<size_t>(free_kib) << 10;
    if (free_bytes <= leave) return true;
    len = (free_bytes - leave) & ~(kPage - 1);
    p = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    unsigned long mask[16] = {};
    mask[node / 64] |= 1UL << (node % 64);
    if (p == MAP_FAILED || ::mbind(p, len, MPOL_BIND, mask, sizeof mask * 8, 0) != 0 ||
        ::mlock(p, len) != 0) {
      why = "cannot lock " + std::to_string(len >> 20) + " MiB on node " + std::to_string(node) +
            ": " + std::strerror(errno) + " (root, or a larger RLIMIT_MEMLOCK)";
      return false;
    }
    return true;
  }
  ~Hog() {
    if (p != nullptr && p != MAP_FAILED) ::munmap(p, len);
  }
};

void BM_GupsHotSet(benchmark::State &state) {
  const auto nodes = memory_nodes();
  const int fast = static_cast<int>(env_long("TIERMEM_GUPS_FAST", nodes.empty() ? 0 : nodes[0]));
  const int slow = static_cast<int>(env_long("TIERMEM_GUPS_SLOW", nodes.size() > 1 ? nodes[1] : -1));
  if (slow < 0 || slow == fast) {
    state.SkipWithError("needs a slow node beside the fast one (TIERMEM_GUPS_SLOW; run it in the tests/vm guest)");
    return;
  }
  const size_t bytes = static_cast<size_t>(env_long("TIERMEM_GUPS_MIB", 256)) << 20;
  const double seconds = static_cast<double>(env_long("TIERMEM_GUPS_SECONDS", 30));
  const double period = static_cast<double>(env_long("TIERMEM_GUPS_MOVE_SECONDS", 10));
  const size_t hot_bytes = bytes / 8;
  const size_t fast_bytes = static_cast<size_t>(env_long("TIERMEM_GUPS_FAST_MIB", static_cast<long>(bytes >> 22))) << 20;
  const char *mover_env = std::getenv("TIERMEM_GUPS_MOVER");
  const bool tracking_off = mover_env != nullptr && std::strcmp(mover_env, "tiermem-off") == 0;
  const bool tiermem_mover =
      tracking_off || (mover_env != nullptr && std::strcmp(mover_env, "tiermem") == 0);
  const char *dax = tiermem_mover ? std::getenv("TIERMEM_GUPS_DAX") : nullptr;
  const bool on_dax = dax != nullptr && *dax != '\0';
  constexpr size_t kUnit = 2u << 20;
  char *region = nullptr;
  void *reserve = nullptr;  // the kernel's run: its own mapping
  tm_policy *policy = nullptr;
  tm_tier *slow_tier = nullptr;
  std::string slow_spec;
  // Before the policy that starts the engine: its CPU shares are over the engine's whole life,
  // as its budget is (the set-up before t0 included: born on SLOW, the memset is its first work).
  auto engine_t0 = Clock::now();
  if (tiermem_mover) {
    // As a program asks for it: the pacing first, then the policy, then one block.
    if (const char *cpu = std::getenv("TIERMEM_GUPS_CPU"); cpu != nullptr && *cpu != '\0') {
      tm_migrate_config c{};
      c.cpu_share = std::strtod(cpu, nullptr);
      if (tm_migrate_configure(&c) != 0) {
        state.SkipWithError(tm_last_error());
        return;
      }
    }
    // Paused before the first auto policy, the engine does not start at all.
    if (tracking_off && tm_migrate_pause() != 0) {
      state.SkipWithError(tm_last_error());
      return;
    }
    engine_t0 = Clock::now();
    if (on_dax) {
      const char *name = std::strrchr(dax, '/');
      slow_spec = "dax:" + std::string(name != nullptr ? name + 1 : dax);
    } else {
      slow_spec = "node:" + std::to_string(slow);
    }
    const std::string text = "auto(node:" + std::to_string(fast) + "<=" +
                             std::to_string(fast_bytes >> 20) + "M, " + slow_spec + ")";
    policy = tm_policy_parse(text.c_str());
    if (policy == nullptr) {
      state.SkipWithError(tm_last_error());
      return;
    }
    region = static_cast<char *>(tm_policy_aligned_alloc(policy, kUnit, bytes));
    slow_tier = tm_tier_find(slow_spec.c_str());
    if (region == nullptr || slow_tier == nullptr) {
      state.SkipWithError(tm_last_error());
      return;
    }
    std::memset(region, 1, bytes);  // born on SLOW: the block's tier
  } else {
    reserve = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (reserve == MAP_FAILED) {
      state.SkipWithError("cannot map the region");
      return;
    }
    region = static_cast<char *>(reserve);
    ::madvise(region, bytes, MADV_NOHUGEPAGE);  // per-page placement, as the tiers see it
    unsigned long mask[16] = {};
    mask[slow / 64] |= 1UL << (slow % 64);
    // Born on the slow node, then the policy let go, so that whoever migrates may move it.
    if (::mbind(region, bytes, MPOL_BIND, mask, sizeof mask * 8, 0) != 0) {
      state.SkipWithError(("mbind to the slow node: " + std::string(std::strerror(errno))).c_str());
      return;
    }
    std::memset(region, 1, bytes);
    ::mbind(region, bytes, MPOL_DEFAULT, nullptr, 0, 0);
  }
  auto migration = [&] {
    tm_tier_stats st{};
    if (slow_tier != nullptr) tm_tier_stats_get(slow_tier, &st);
    return st;
  };

  // The fast node keeps room for fast_bytes of the region (plus what the kernel's watermarks
  // keep free anyway); the rest of it is locked for the run.
  Hog hog;
  // (16 MiB more: what the kernel keeps free below its watermarks.) tiermem's engine holds
  // itself to the budget instead: locked pages would leave its node no room to reclaim in.
  if (std::string why; !tiermem_mover && !hog.take(fast, fast_bytes + (16u << 20), why)) {
    state.SkipWithError(why.c_str());
    return;
  }
  // Ping-pong, from a fixed sample of the region's pages: when each last arrived on fast.
  constexpr size_t kTracked = 4096;
  std::vector<void *> tracked(kTracked);
  std::vector<int> tracked_status(kTracked), tracked_prev(kTracked, slow);
  std::vector<double> arrived(kTracked, -1);
  {
    std::mt19937_64 pick(11);
    for (auto &t : tracked) t = region + (pick() % (bytes / kPage)) * kPage;
  }
  size_t to_fast = 0, back_within_10s = 0, max_fast = 0;

  const auto before = vmstat();
  std::atomic<size_t> hot_start{0};
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> updates{0};
  std::thread worker([&] {
    std::mt19937_64 rng(42);
    const size_t words = bytes / 8, hot_words = hot_bytes / 8;
    auto *w = reinterpret_cast<uint64_t *>(region);
    uint64_t local = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const size_t base = hot_start.load(std::memory_order_relaxed) / 8;
      for (int i = 0; i < 4096; ++i) {
        const uint64_t r = rng();
        const size_t at = (r % 10) != 0 ? base + (r >> 8) % hot_words : (r >> 8) % words;
        w[at] += r;
      }
      local += 4096;
      updates.store(local, std::memory_order_relaxed);
    }
  });

  std::vector<std::string> timeline;
  std::vector<double> to90;  // seconds from the start / each move to 90% on fast
  std::mt19937_64 rng(7);
  const auto t0 = Clock::now();
  double last_move = 0, last_t = 0;
  uint64_t last_updates = 0;
  bool reached = false;
  int phase = 0;
  for (auto _ : state) {
    while (true) {
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
      const double t = std::chrono::duration<double>(Clock::now() - t0).count();
      // Not at the last sample: a move there would end the run with the hot set just moved
      // (a boot's run ended so, with a final share of 0 and a "never" for a move not waited for).
      if (t - last_move >= period && t < seconds) {
        // The hot set moves to the next eighth of the region (it starts at the first).
        ++phase;
        hot_start.store((static_cast<size_t>(phase) % 8) * hot_bytes);
        if (!reached) to90.push_back(-1);
        last_move = t;
        reached = false;
      }
      const double share = hot_share(region + hot_start.load(), hot_bytes, fast, rng);
      if (tiermem_mover) max_fast = std::max<size_t>(max_fast, migration().fast_resident_bytes);
      if (::move_pages(0, kTracked, tracked.data(), nullptr, tracked_status.data(), 0) == 0) {
        for (size_t i = 0; i < kTracked; ++i) {
          const int now = tracked_status[i];
          if (now == fast && tracked_prev[i] != fast) {
            ++to_fast;
            arrived[i] = t;
          } else if (now != fast && tracked_prev[i] == fast && arrived[i] >= 0 && t - arrived[i] <= 10) {
            ++back_within_10s;
          }
          tracked_prev[i] = now;
        }
      }
      const uint64_t u = updates.load();
      const double ups = static_cast<double>(u - last_updates) / (t - last_t);
      last_updates = u;
      last_t = t;
      char row[96];
      std::snprintf(row, sizeof row, "%.1f,%.3f,%.0f", t, share, ups);
      timeline.emplace_back(row);
      if (!reached && share >= 0.9) {
        to90.push_back(t - last_move);
        reached = true;
      }
      if (t >= seconds) break;
    }
  }
  stop = true;
  worker.join();
  if (tiermem_mover) {
    tm_migrate_pause();
    const tm_tier_stats es = migration();
    state.counters["tiermem_promoted_MiB"] = static_cast<double>(es.promoted_bytes >> 20);
    state.counters["tiermem_demoted_MiB"] = static_cast<double>(es.demoted_bytes >> 20);
    state.counters["tiermem_moved_back_10s_MiB"] = static_cast<double>(es.moved_back_10s_bytes >> 20);
    state.counters["tiermem_fast_MiB_max"] = static_cast<double>(max_fast >> 20);
    state.counters["tiermem_scans"] = static_cast<double>(es.tracking_scans);
    const double life = std::chrono::duration<double>(Clock::now() - engine_t0).count();
    state.counters["tiermem_thread_cpu_share"] = static_cast<double>(es.tracking_cpu_ns) / 1e9 / life;
    state.counters["tiermem_move_cpu_share"] = static_cast<double>(es.moving_cpu_ns) / 1e9 / life;
  }
  if (!reached) to90.push_back(-1);
  const auto after = vmstat();
  auto delta = [&](const char *k) {
    auto a = after.find(k), b = before.find(k);
    return a == after.end() ? 0.0 : static_cast<double>(a->second - (b == before.end() ? 0 : b->second));
  };
  const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  state.counters["updates_per_s"] = static_cast<double>(updates.load()) / elapsed;
  for (size_t i = 0; i < to90.size(); ++i)
    state.counters["to90_s_" + std::to_string(i)] = to90[i];  // -1: never reached 90%
  state.counters["promoted_MiB"] = delta("pgpromote_success") * kPage / (1 << 20);
  state.counters["demoted_MiB"] = (delta("pgdemote_kswapd") + delta("pgdemote_direct")) * kPage / (1 << 20);
  state.counters["numa_migrated_MiB"] = delta("numa_pages_migrated") * kPage / (1 << 20);
  state.counters["hint_faults"] = delta("numa_hint_faults");
  // Every page fault of the run, the soft-dirty write faults after each clear among them.
  state.counters["page_faults"] = delta("pgfault");
  state.counters["pingpong_share"] = to_fast == 0 ? 0 : static_cast<double>(back_within_10s) / to_fast;
  state.counters["fast_budget_MiB"] = static_cast<double>(fast_bytes >> 20);
  state.counters["final_hot_share"] = hot_share(region + hot_start.load(), hot_bytes, fast, rng);
  if (const char *path = std::getenv("TIERMEM_GUPS_TIMELINE"); path != nullptr && *path != '\0') {
    std::ofstream out(path);
    out << "seconds,hot_share_on_fast,updates_per_s\n";
    for (const auto &r : timeline) out << r << "\n";
  }
  state.SetLabel(std::string(tracking_off    ? "tiermem auto policy, engine paused"
                             : tiermem_mover ? "tiermem auto policy"
                                             : "kernel") +
                 ", fast node " +
                 std::to_string(fast) + ", slow " + (tiermem_mover ? slow_spec : "node " + std::to_string(slow)));
  if (tiermem_mover) {
    tm_free(region);
    tm_policy_free(policy);
  } else {
    ::munmap(reserve, bytes);
  }
}

BENCHMARK(BM_GupsHotSet)->Name("gups_hot_set")->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

// The migration engine's pacing: its CPU budget (a bucket of the thread's CPU time, checked
// after every interval) and its scans stretched while nothing is worth moving. A process of
// its own, run alone (RUN_SERIAL): what it checks is CPU time against wall time, and a move's
// cost (a 16 MiB copy) swings with what runs beside it.
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <vector>

#include "migrate/engine.hpp"

namespace mig = tiermem::migrate;

namespace {

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Six units of 16 MiB on a memfd, so that one move (a copy and a remap) costs milliseconds
// here, and scans made dear on purpose (`scan_ns` of the thread's CPU each). Once `hot` is
// set, the hot pair changes every sixth scan, so that FAST's budget of two units is full and
// trades (two moves at once) keep coming; before, nothing is written.
struct BigUnits {
  static constexpr std::size_t kBig = std::size_t{16} << 20, kUnits = 6;
  char *reserve = static_cast<char *>(::mmap(nullptr, (kUnits + 1) * kBig, PROT_NONE,
                                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  char *p = reinterpret_cast<char *>((reinterpret_cast<std::uintptr_t>(reserve) + kBig - 1) & ~(kBig - 1));
  int fd = ::memfd_create("tiermem-test-cpu", MFD_CLOEXEC);
  std::atomic<bool> hot{false};
  std::atomic<bool> all_hot{false};  // every unit written in every window instead
  std::uint64_t calls = 0;
  mig::Engine e;
  mig::EngineConfig c;
  BigUnits(double share, std::uint64_t scan_ns) {
    REQUIRE(reserve != MAP_FAILED);
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(kUnits * kBig)) == 0);
    REQUIRE(::mmap(p, kUnits * kBig, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == p);
    std::memset(p, 9, kUnits * kBig);
    c.fast_node = 0;
    c.unit = kBig;
    // The unit is set by a first start, before any region.
    e.set_write_source({[](const void *, std::size_t, std::size_t, std::vector<std::uint32_t> &) { return 0; }, [] {}});
    e.start(c);
    e.stop();
    mig::SlowMemory slow;
    slow.fd = fd;
    e.add_region(p, kUnits * kBig, slow);
    e.set_write_source({[this, scan_ns](const void *, std::size_t len, std::size_t unit, std::vector<std::uint32_t> &w) {
                          for (const std::uint64_t until = thread_cpu_ns() + scan_ns; thread_cpu_ns() < until;) {
                          }
                          w.assign(len / unit, 0);
                          if (all_hot.load()) {
                            w.assign(len / unit, static_cast<std::uint32_t>(unit / 4096));
                            return 0;
                          }
                          if (!hot.load()) return 0;
                          const std::size_t pair = (calls++ / 6) % 3 * 2;
                          w[pair] = w[pair + 1] = static_cast<std::uint32_t>(unit / 4096);
                          return 0;
                        },
                        [] {}});
    c.budget = 2 * kBig;
    c.interval_ms = 20;
    c.min_residency_ms = 50;
    c.rate = std::size_t{1} << 40;
    c.cpu_budget = share;
  }
  ~BigUnits() {
    e.stop();
    ::close(fd);
    ::munmap(reserve, (kUnits + 1) * kBig);
  }
  double move_ms() {
    const mig::EngineStats s = e.stats();
    return s.move_cpu_ns / 1e6 / static_cast<double>((s.promoted + s.demoted) / kBig);
  }
};

double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

TEST_CASE("the thread's CPU time stays within its budget after every interval, trades included") {
  constexpr double kShare = 0.1;
  BigUnits b(kShare, 5000000);
  b.hot = true;
  const auto started = std::chrono::steady_clock::now();
  b.e.start(b.c);
  // After each interval (stats() waits for the thread's lock, which it holds for a whole
  // interval): the thread's CPU time against the budget times the wall time so far.
  double worst_ms = -1e9;
  std::uint64_t last_scans = 0;
  while (b.e.stats().demoted < 4 * b.kBig && ms_since(started) < 60000) {
    const mig::EngineStats s = b.e.stats();
    const double wall_ms = ms_since(started);
    if (s.scans != last_scans) worst_ms = std::max(worst_ms, s.thread_cpu_ns / 1e6 - kShare * wall_ms);
    last_scans = s.scans;
    ::usleep(200);
  }
  b.e.stop();
  const mig::EngineStats s = b.e.stats();
  REQUIRE(s.demoted >= 4 * b.kBig);  // trades were made (a bound of 60 s, not a measure)
  const double move_ms = b.move_ms();
  INFO("a move " << move_ms << " ms, scans " << s.scans << ", CPU " << s.thread_cpu_ns / 1e6
                 << " ms, at worst " << worst_ms << " ms over the budget");
  // Within one move of the budget after every interval (a move dearer than the ones before
  // it overruns the expected cost by that much at most here); the check made only before a
  // trade's first move overran it by two (here 30-32 ms at 18 ms a move; 3.4% at a budget of
  // 3% in the VM).
  CHECK(worst_ms <= move_ms + 1);
}

TEST_CASE("time the thread did not use while idle does not pile up into a burst of moves") {
  // Three idle seconds at 10% of a core with 1 ms scans would bank 150 ms of CPU time if the
  // budget were an average since start; then every unit hot, trades wanted at every sixth
  // scan (about 36 ms of moves each 120 ms). Until four trades are made, the thread may spend
  // the budget's share of the time and its bucket (10 intervals' share, or two moves and a
  // scan when more: 25 ms at 12 ms a move), not the bank (averaged since start: 130 ms of
  // CPU in 0.41 s, 32% of a core).
  constexpr double kShare = 0.1;
  BigUnits b(kShare, 1000000);
  b.e.start(b.c);
  ::usleep(3000000);
  const mig::EngineStats idle = b.e.stats();
  CHECK(idle.promoted == 0);
  const auto from = std::chrono::steady_clock::now();
  b.hot = true;
  // Until four trades are made (a bound of 60 s, not a measure): at the budget, about a second.
  while (b.e.stats().demoted < 4 * b.kBig && ms_since(from) < 60000) ::usleep(1000);
  const mig::EngineStats busy = b.e.stats();
  const double wall_ms = ms_since(from);
  b.e.stop();
  REQUIRE(busy.demoted >= 4 * b.kBig);
  const double move_ms = b.move_ms();
  const double used_ms = (busy.thread_cpu_ns - idle.thread_cpu_ns) / 1e6;
  const double bucket_ms = std::max(kShare * 10 * b.c.interval_ms, 2 * move_ms + 1);
  INFO("a move " << move_ms << " ms, " << used_ms << " ms of CPU in " << wall_ms << " ms");
  CHECK(used_ms <= kShare * wall_ms + bucket_ms + move_ms + 1);
}


TEST_CASE("while nothing is worth moving the scans stretch, and the first unit worth it ends that") {
  // Each clear of the soft-dirty bits costs the program a write fault on every page it
  // writes next, so an engine with nothing to do scans less and less often (1, 2, 4, 8
  // intervals); a unit above the average with room on FAST, seen once, brings it back.
  BigUnits b(1, 0);
  b.e.start(b.c);
  const auto scans = [&](std::uint64_t n) {
    const std::uint64_t until = b.e.stats().scans + n;
    for (int i = 0; i < 30000 && b.e.stats().scans < until; ++i) ::usleep(1000);
    REQUIRE(b.e.stats().scans >= until);  // a bound of 30 s, not a measure
  };
  scans(4);
  CHECK(b.e.stats().stretch == 8);
  CHECK(b.e.stats().promoted == 0);
  b.hot = true;
  scans(2);
  CHECK(b.e.stats().stretch == 1);
  scans(2);
  CHECK(b.e.stats().promoted > 0);
}

TEST_CASE("while moves wait for the CPU budget, the thread does not spend it on scans") {
  // Six hot units, room for all of them, 5 ms scans at 5% of a core: a scan every 200 ms left
  // the moves 5 ms of each 200 (a 12-18 ms move every third scan, about 20 scans for the six;
  // GUPS in the VM at 3% never reached 90% so). Now a scan that finds moves with no room for
  // them waits until the bucket holds them (here ten intervals' share, 100 ms, about six
  // moves): two scans to call the units hot, then one for the moves.
  constexpr double kShare = 0.05;
  BigUnits b(kShare, 5000000);
  b.c.budget = b.kUnits * b.kBig;
  b.c.interval_ms = 200;
  b.all_hot = true;
  const auto started = std::chrono::steady_clock::now();
  b.e.start(b.c);
  while (b.e.stats().promoted < b.kUnits * b.kBig && ms_since(started) < 60000) ::usleep(1000);
  b.e.stop();
  const mig::EngineStats s = b.e.stats();
  REQUIRE(s.promoted == b.kUnits * b.kBig);  // a bound of 60 s, not a measure
  const std::uint64_t moves = s.promoted / b.kBig;
  INFO("a move " << b.move_ms() << " ms, " << s.scans << " scans for " << moves << " moves, CPU "
                 << s.thread_cpu_ns / 1e6 << " ms in " << ms_since(started) << " ms");
  CHECK(s.scans <= moves);
}

TEST_CASE("a unit first seen clearly hot is confirmed one window later, at most once an interval") {
  // A unit moves once two windows in a row saw it above the average. The second used to come
  // an interval after the first (up to eight when the scans had stretched): most of the time
  // from a hot set's move to its promotion. Now a unit above twice the average of all units,
  // first seen so, is looked at again after one window; that confirmation cannot ask for
  // another, so noise costs at most one scan more an interval. Here the interval is 4 s (a
  // window of 500 ms), unit 0 hot from the first scan, unit 1 from the second.
  BigUnits b(1, 0);
  b.c.interval_ms = 4000;
  std::mutex mu;
  std::vector<std::chrono::steady_clock::time_point> at;
  b.e.set_write_source({[&](const void *, std::size_t len, std::size_t unit, std::vector<std::uint32_t> &w) {
                          std::lock_guard<std::mutex> lock(mu);
                          w.assign(len / unit, 0);
                          w[0] = static_cast<std::uint32_t>(unit / 4096);
                          if (!at.empty()) w[1] = w[0];
                          at.push_back(std::chrono::steady_clock::now());
                          return 0;
                        },
                        [] {}});
  const auto scans = [&](std::uint64_t n) {
    for (int i = 0; i < 30000 && b.e.stats().scans < n; ++i) ::usleep(1000);
    REQUIRE(b.e.stats().scans >= n);  // a bound of 30 s, not a measure
  };
  b.e.start(b.c);
  scans(2);
  CHECK(b.e.placement(b.p) == 1);          // confirmed by the second scan
  CHECK(b.e.placement(b.p + b.kBig) == 0);  // seen once
  scans(3);
  b.e.stop();
  CHECK(b.e.placement(b.p + b.kBig) == 1);
  std::lock_guard<std::mutex> lock(mu);
  REQUIRE(at.size() >= 3);
  const auto gap_ms = [&](std::size_t i) {
    return std::chrono::duration<double, std::milli>(at[i + 1] - at[i]).count();
  };
  INFO("scans " << gap_ms(0) << " ms and " << gap_ms(1) << " ms apart");
  // One window (500 ms) against the interval (4 s): bounds far from both, not a measure.
  CHECK(gap_ms(0) < 2000);
  // Unit 1 was new at the confirmation's scan: it waits for the next interval. (Sleeps never
  // end early, so this bound holds on any machine.)
  CHECK(gap_ms(1) >= 3000);
}

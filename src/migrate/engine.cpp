#include "migrate/engine.hpp"

#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <string>

#include "migrate/move.hpp"
#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::migrate {
namespace {

constexpr std::size_t kPage = 4096;
constexpr double kMinWindowMs = 5;  // the shortest observation window (see window_ms_)
constexpr unsigned kMaxStretch = 8;  // the longest wait between scans, in intervals (see run())

// A slow unit may take a fast one's place only if it scores more than twice as high.
bool clearly_hotter(std::uint32_t slow, std::uint32_t fast) { return std::uint64_t{fast} * 2 + 1 < slow; }

std::uint64_t thread_cpu_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

// MemTotal of a node, from sysfs (kB), or -1.
long long node_total_bytes(int node) {
  // Read without iostreams: a stream here would link libstdc++'s locale set-up into the preload
  // library, which runs at every program's start (six constructors, their pages faulted in).
  int err = 0;
  const auto text = platform::read_file("/sys/devices/system/node/node" + std::to_string(node) + "/meminfo", err);
  if (!text) return -1;
  const auto at = text->find("MemTotal:");
  if (at == std::string::npos) return -1;
  return std::atoll(text->c_str() + at + 9) * 1024;
}

std::string mib(std::size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Running engines, for fork: before it, each engine's lock is taken, so no move (and no
// fence) is in flight while the address space is copied.
std::mutex g_engines_mu;
std::vector<Engine *> g_engines;
pthread_once_t g_atfork_once = PTHREAD_ONCE_INIT;

}  // namespace

Engine::~Engine() { stop(); }

void Engine::add_region(void *base, std::size_t len, SlowMemory slow) {
  add_region(base, len, slow, {});
}

void Engine::add_region(void *base, std::size_t capacity, SlowMemory slow,
                        std::function<std::size_t()> extent) {
  const std::size_t unit = config_.unit;
  auto *b = static_cast<char *>(base);
  // A growing region's last partial unit never moves: its end need not be aligned.
  const std::size_t cap = extent ? capacity / unit * unit : capacity;
  if (reinterpret_cast<std::uintptr_t>(b) % unit != 0 || cap == 0 || cap % unit != 0)
    throw Error(-EINVAL, "tiermem: a migrating region must start and end on a " + mib(unit) +
                             " boundary; align it");
  if ((slow.node < 0) == (slow.fd < 0))
    throw Error(-EINVAL, "tiermem: a migrating region's slow memory is a node or a file, exactly one");
  std::lock_guard<std::mutex> lock(mu_);
  if (running_ && slow.node == config_.fast_node)
    throw Error(-EINVAL, "tiermem: a migrating region's slow node " + std::to_string(slow.node) +
                             " is the fast node; name two different tiers");
  for (const Region &r : regions_) {
    if (b < r.base + r.cap && r.base < b + cap)
      throw Error(-EEXIST, "tiermem: the migrating region at " + std::to_string(reinterpret_cast<std::uintptr_t>(b)) +
                               " overlaps one already registered");
  }
  Region r{b, extent ? 0 : cap, slow, {}, cap, std::move(extent), {}};
  if (r.extent) grow(r);
  r.units.resize(r.len / unit);
  regions_.push_back(std::move(r));
}

void Engine::grow(Region &r) {
  if (!r.extent) return;
  const std::size_t unit = config_.unit;
  const std::size_t want = std::min(r.cap, (r.extent() + unit - 1) / unit * unit);
  if (want <= r.len) return;
  r.len = want;
  r.units.resize(want / unit);
}

void Engine::tune(const EngineConfig &c) {
  if (c.cpu_budget != 0 && !(c.cpu_budget > 0 && c.cpu_budget <= 1))
    throw Error(-EINVAL, "tiermem: the migration thread's CPU budget is a share of one core, above 0 and at most 1");
  std::lock_guard<std::mutex> lock(mu_);
  if (c.interval_ms != 0) config_.interval_ms = c.interval_ms;
  if (c.rate != 0) config_.rate = c.rate;
  if (c.cpu_budget != 0) config_.cpu_budget = c.cpu_budget;
  if (c.min_residency_ms != 0) config_.min_residency_ms = c.min_residency_ms;
  wake_.notify_all();
}

bool Engine::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return running_ && !stopping_;
}

EngineConfig Engine::config() const {
  std::lock_guard<std::mutex> lock(mu_);
  return config_;
}

RegionStats Engine::region_stats(const void *base) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Region &r : regions_) {
    if (r.base != base) continue;
    RegionStats s = r.moved;
    for (const Unit &u : r.units) s.fast_bytes += u.fast ? config_.unit : 0;
    return s;
  }
  return {};
}

void Engine::start(const EngineConfig &config) {
  if (!(config.cpu_budget > 0 && config.cpu_budget <= 1))
    throw Error(-EINVAL, "tiermem: the migration thread's CPU budget is a share of one core, above 0 and at most 1");
  if (config.unit < kPage || config.unit % kPage != 0)
    throw Error(-EINVAL, "tiermem: the migration unit must be a multiple of 4 KiB");
  const long long fast_total = node_total_bytes(config.fast_node);
  if (fast_total < 0)
    throw Error(-ENODEV, "tiermem: the fast node " + std::to_string(config.fast_node) +
                             " has no memory; name a node with memory");
  if (config.budget > static_cast<std::size_t>(fast_total))
    throw Error(-EINVAL, "tiermem: a migration budget of " + mib(config.budget) +
                             " is more than the fast node " + std::to_string(config.fast_node) +
                             " holds (" + mib(static_cast<std::size_t>(fast_total)) + "); give a smaller budget");
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const Region &r : regions_) {
      if (r.slow.node == config.fast_node)
        throw Error(-EINVAL, "tiermem: a migrating region's slow node " + std::to_string(r.slow.node) +
                                 " is the fast node; name two different tiers");
    }
  }
  if (!source_.written && !tracker_open_) {
    if (int rc = tracker_.open(); rc != 0)
      throw Error(rc, "tiermem: cannot open /proc/self/pagemap and clear_refs for access tracking");
    tracker_open_ = true;
  }
  if (!source_.written && !tracker_.probe())
    throw Error(-ENOTSUP, "tiermem: this kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY), "
                          "which migration tracks writes with; use a kernel built with it");
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!regions_.empty() && config.unit != config_.unit)
      throw Error(-EINVAL, "tiermem: the migration unit must be set before regions are added");
    if (running_) throw Error(-EBUSY, "tiermem: the migration engine is already running");
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    config_ = config;
    if (move_cost_ns_ == 0) move_cost_ns_ = static_cast<double>(config.unit) * 1e9 / (1 << 30);
    stopping_ = false;
    if (!started_once_) t0_ = std::chrono::steady_clock::now();
    started_once_ = true;
  }
  clear_writes();
  cpu_at_start_ = 0;
  pthread_once(&g_atfork_once, [] { pthread_atfork(before_fork, after_fork_parent, after_fork_child); });
  {
    std::lock_guard<std::mutex> lock(g_engines_mu);
    g_engines.push_back(this);
  }
  if (int rc = pthread_create(&thread_, nullptr, thread_main, this); rc != 0) {
    std::lock_guard<std::mutex> lock(g_engines_mu);
    g_engines.erase(std::find(g_engines.begin(), g_engines.end(), this));
    throw Error(-rc, "tiermem: cannot start the migration thread");
  }
  running_ = true;
}

void *Engine::thread_main(void *self) {
  static_cast<Engine *>(self)->run();
  return nullptr;
}

void Engine::stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (running_) {
    pthread_join(thread_, nullptr);
    running_ = false;
    cpu_before_ = stats_.thread_cpu_ns;
  }
  std::lock_guard<std::mutex> lock(g_engines_mu);
  g_engines.erase(std::remove(g_engines.begin(), g_engines.end(), this), g_engines.end());
}

void Engine::before_fork() {
  g_engines_mu.lock();
  for (Engine *e : g_engines) e->mu_.lock();
}

void Engine::after_fork_parent() {
  for (Engine *e : g_engines) e->mu_.unlock();
  g_engines_mu.unlock();
}

void Engine::after_fork_child() {
  // The thread stayed in the parent: the child's engines stop where they are.
  for (Engine *e : g_engines) {
    e->running_ = false;
    e->stopping_ = true;
    e->mu_.unlock();
  }
  g_engines.clear();
  g_engines_mu.unlock();
}

EngineStats Engine::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  EngineStats s = stats_;
  s.fast_bytes = 0;
  for (const Region &r : regions_)
    for (const Unit &u : r.units) s.fast_bytes += u.fast ? config_.unit : 0;
  return s;
}

int Engine::placement(const void *p) const {
  const auto *c = static_cast<const char *>(p);
  std::lock_guard<std::mutex> lock(mu_);
  for (const Region &r : regions_) {
    if (c >= r.base && c < r.base + r.len)
      return r.units[static_cast<std::size_t>(c - r.base) / config_.unit].fast ? 1 : 0;
  }
  return -1;
}

void Engine::run() {
  cpu_at_start_ = thread_cpu_ns();
  std::size_t credit = 0;
  std::unique_lock<std::mutex> lock(mu_);
  cpu_bucket_ns_ = 0;
  stats_.stretch = 1;
  bucket_at_ = since_t0();
  bucket_cpu_ = cpu_at_start_;
  // An eighth of the interval to begin with: a window as long as the interval sees most pages
  // of a busy program written, and it takes an interval per halving to learn so.
  window_ms_ = std::max(config_.interval_ms / 8.0, kMinWindowMs);
  // The first scan one window after the start, not an interval: what is hot from the start
  // is seen at once (see confirm_next_).
  double wait_ms = window_ms_;
  bool confirming = false;  // this scan was a confirmation: the next one is not
  auto sleep = [&](double ms) {
    if (ms > 0) wake_.wait_for(lock, std::chrono::duration<double, std::milli>(ms), [this] { return stopping_; });
    return !stopping_;
  };
  while (!stopping_) {
    window_ms_ = std::min<double>(window_ms_, config_.interval_ms);
    if (!sleep(wait_ms - window_ms_)) break;
    // Cleared after the last moves too: a copy writes every page of the memory it fills, which
    // would otherwise make a unit just moved look written all over.
    const std::uint64_t before_clear = thread_cpu_ns();
    clear_writes();
    const std::uint64_t clear_ns = thread_cpu_ns() - before_clear;
    if (!sleep(window_ms_)) break;
    const double now = since_t0();
    const std::uint64_t before = thread_cpu_ns() - clear_ns;
    const std::uint64_t moves_before = stats_.move_cpu_ns;
    const bool wanted = interval(now, credit);
    const std::uint64_t after = thread_cpu_ns();
    stats_.thread_cpu_ns = cpu_before_ + (after - cpu_at_start_);
    // The scan's cost grows with the regions' size: the next interval waits long enough for
    // the scans to take at most half the CPU budget, leaving the other half to the moves
    // (held to the whole budget in interval()). The moves' own time is not the scan's: counted
    // in, one interval of moves stretched the next wait threefold (in the VM, move_pages took
    // 134 us a page under GUPS's writes, and 1.1 s of moves put off the next scan 3.3 s).
    const double spent_ms = static_cast<double>(after - before - (stats_.move_cpu_ns - moves_before)) / 1e6;
    //
    // While nothing is worth moving, each wait is twice the one before, up to kMaxStretch
    // intervals: every clear of the soft-dirty bits costs the program a write fault on each
    // page it writes next (GUPS in the VM, tracking alone at 2.6 scans a second: 0.48x of its
    // updates/s), and a placement that holds needs no watching twice a second. The first scan
    // that sees a unit worth moving, even once, goes back to the interval.
    stats_.stretch = wanted ? 1 : std::min(stats_.stretch * 2, kMaxStretch);
    wait_ms = std::max<double>(static_cast<double>(config_.interval_ms) * stats_.stretch,
                               2 * spent_ms / config_.cpu_budget - spent_ms);
    // And the next scan (its clear included) only once it fits in the bucket beside what the
    // moves took: a scan that grew, or moves that overran, are paid back first.
    scan_cost_ns_ = spent_ms * 1e6;
    fill_bucket();
    // Moves the budget had no room for: the next scan waits until the bucket holds it and
    // them (or is full). Scanning sooner finds the same units and spends what they wait for
    // (GUPS in the VM at a budget of 3%: a scan a second took half the budget, the moves got
    // the rest, a unit a second, and the hot set never reached 90%).
    // (With none blocked this is the scan alone: the cap always holds a scan.)
    const double want_ns =
        std::min(bucket_cap(), scan_cost_ns_ + static_cast<double>(blocked_moves_) * move_cost_ns_);
    // A unit seen clearly hot for the first time is confirmed by the next window, not the
    // next interval: a unit moves only once two windows in a row saw it above the average
    // (interval()), and the second window came a whole interval later (up to eight of them
    // when the scans had stretched), which was most of the time from a hot set's move to
    // its promotion. Once per interval at most: the confirmation's scan cannot ask for
    // another, so noise costs at most one scan (and one clear) more per interval. The bucket
    // still has to hold the scan.
    if (confirm_next_ && !confirming) {
      confirming = true;
      wait_ms = window_ms_;
    } else {
      confirming = false;
    }
    wait_ms = std::max(wait_ms, (want_ns - cpu_bucket_ns_) / config_.cpu_budget / 1e6);
  }
}

double Engine::since_t0() const {
  // One clock for every run since the first start: a unit's arrival and departure times keep
  // their meaning across a stop and a start (min_residency_ms, moved back within 10 s).
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
}

double Engine::bucket_cap() const {
  // Ten intervals' share of the budget, or a trade and a scan when those cost more (a move
  // must be able to fit at all).
  return std::max(config_.cpu_budget * 10 * config_.interval_ms * 1e6, 2 * move_cost_ns_ + scan_cost_ns_);
}

void Engine::fill_bucket() {
  const double now = since_t0();
  const std::uint64_t cpu = thread_cpu_ns();
  cpu_bucket_ns_ = std::min(bucket_cap(), cpu_bucket_ns_ + config_.cpu_budget * (now - bucket_at_) * 1e9 -
                                     static_cast<double>(cpu - bucket_cpu_));
  bucket_at_ = now;
  bucket_cpu_ = cpu;
}

bool Engine::fits_in_budget(int moves) {
  fill_bucket();
  return cpu_bucket_ns_ >= moves * move_cost_ns_;
}

int Engine::move_unit(Region &r, std::size_t i, bool to_fast) {
  char *at = r.base + i * config_.unit;
  const std::uint64_t started = thread_cpu_ns();
  int rc;
  if (r.slow.node >= 0) {
    rc = move_to_node(at, config_.unit, to_fast ? config_.fast_node : r.slow.node);
  } else if (to_fast) {
    // Base pages, as a node SLOW keeps them: the unit's writes are still told per page on FAST
    // (in the VM, with THP "always", every promoted unit looked written all over).
    rc = remap_range(at, config_.unit, Destination{-1, 0, config_.fast_node, true}).error;
  } else {
    // Back into the device's own pages for this address: the region keeps its offsets.
    rc = remap_range(at, config_.unit,
                     Destination{r.slow.fd, r.slow.offset + static_cast<off_t>(i * config_.unit), -1})
             .error;
  }
  const auto spent = static_cast<double>(thread_cpu_ns() - started);
  stats_.move_cpu_ns += static_cast<std::uint64_t>(spent);
  // Up at once to a dearer move, down slowly: fits_in_budget() errs on the side of the budget.
  move_cost_ns_ = spent > move_cost_ns_ ? spent : (7 * move_cost_ns_ + spent) / 8;
  return rc;
}

bool Engine::promote(Region &r, std::size_t i, double now) {
  if (const int rc = move_unit(r, i, true); rc != 0) {
    // A memory error in the unit (the copy stopped at it; the poison registry has it, and
    // the heap quarantines its block): never tried again, it stays on its slow memory.
    if (rc == -EIO) r.units[i].stuck = true;
    ++stats_.failed_moves;
    return false;
  }
  r.units[i].fast = true;
  r.units[i].arrived = now;
  stats_.promoted += config_.unit;
  r.moved.promoted += config_.unit;
  return true;
}

bool Engine::demote(Region &r, std::size_t i, double now) {
  if (move_unit(r, i, false) != 0) {
    ++stats_.failed_moves;
    return false;
  }
  if (now - r.units[i].arrived <= 10) {
    stats_.moved_back_within_10s += config_.unit;
    r.moved.moved_back_within_10s += config_.unit;
  }
  r.units[i].fast = false;
  r.units[i].left = now;
  stats_.demoted += config_.unit;
  r.moved.demoted += config_.unit;
  return true;
}

bool Engine::interval(double now, std::size_t &credit) {
  // Scores from the writes within the window, over what each region holds now; `dirty` and
  // `written_units` also give the average written unit (pages per unit written in the window).
  std::uint64_t pages = 0, dirty = 0, written_units = 0;
  for (Region &r : regions_) {
    grow(r);
    if (r.len == 0) continue;
    if (written(r) != 0) continue;
    // A coarse slow mapping: its units show all their pages written or none; so must the
    // promoted ones (in the VM, with a device of align 2 MiB, 77% of the bytes moved came back
    // within 10 s, every cold unit on the device outscoring the same unit on FAST).
    if (r.slow.granule > kPage)
      for (std::uint32_t &c : counts_) c = c != 0 ? static_cast<std::uint32_t>(config_.unit / kPage) : 0;
    for (std::size_t i = 0; i < r.units.size(); ++i) {
      r.units[i].score = r.units[i].score / 2 + counts_[i];
      r.units[i].last = counts_[i];
      dirty += counts_[i];
      written_units += counts_[i] != 0;
    }
    pages += r.len / kPage;
  }
  if (pages != 0) {
    if (dirty * 4 > pages) window_ms_ = std::max(window_ms_ / 2, kMinWindowMs);
    else if (dirty * 16 < pages) window_ms_ = std::min<double>(window_ms_ * 2, config_.interval_ms);
  }
  ++stats_.scans;
  credit = std::min(credit + static_cast<std::size_t>(static_cast<double>(config_.rate) *
                                                      config_.interval_ms / 1000.0),
                    2 * config_.rate);
  struct Ref {
    Region *r;
    std::size_t i;
    std::uint32_t score;
  };
  std::vector<Ref> hot, cold;
  std::size_t fast = 0;
  std::uint32_t rising = 0;  // the best score of a slow unit above the average in this window
  bool fresh = false;  // a slow unit above twice the average of all units, first seen so
  const std::uint64_t units = pages * kPage / config_.unit;
  for (Region &r : regions_) {
    for (std::size_t i = 0; i < r.units.size(); ++i) {
      Unit &u = r.units[i];
      // A unit may move only if, in this window and in the one before, it had at least as
      // many pages written as the average unit written in it: otherwise the cold units
      // written now and then fill the budget, only to go back within seconds when a hot one
      // comes (GUPS in the VM: 19% of the bytes moved came back within 10 s), and so would
      // the units a program is initialising (written all over in one window, not the next).
      const bool was_above = u.above_average;
      u.above_average = u.last > 0 && std::uint64_t{u.last} * written_units >= dirty;
      if (u.fast) {
        ++fast;
        cold.push_back({&r, i, u.score});
      } else if (u.above_average && !u.stuck) {
        rising = std::max(rising, u.score);
        if (was_above) hot.push_back({&r, i, u.score});
        // Twice the average over every tracked unit, written or not: not a unit a program
        // initialises (written like its neighbours), nor a cold one written now and then.
        else if (std::uint64_t{u.last} * units >= 2 * dirty) fresh = true;
      }
    }
  }
  std::sort(hot.begin(), hot.end(), [](const Ref &a, const Ref &b) { return a.score > b.score; });
  // The coldest first; among equally cold units the one that has been on FAST longest, so a
  // unit that came recently is not sent back while an older one as cold stays (ping-pong).
  std::sort(cold.begin(), cold.end(), [](const Ref &a, const Ref &b) {
    if (a.score != b.score) return a.score < b.score;
    return a.r->units[a.i].arrived < b.r->units[b.i].arrived;
  });
  const std::size_t budget_units = config_.budget / config_.unit;
  const double residency = config_.min_residency_ms / 1000.0;
  // Whether anything is, or is becoming, worth moving (credit, CPU and residency aside): a
  // slow unit above the average, with room on FAST or clearly hotter than the coldest unit
  // there. While nothing is, run() stretches the scans.
  const bool wanted = rising != 0 && (fast < budget_units ||
                                      (!cold.empty() && clearly_hotter(rising, cold.front().score)));
  confirm_next_ = fresh && wanted;
  // Within the CPU budget, the moves about to be made counted in at their expected cost: a
  // check of the time already spent alone let a trade's two moves overrun the budget by up to
  // two moves (3.4% of a core at a budget of 3% in the VM).
  std::size_t next_cold = 0;
  blocked_moves_ = 0;
  // The moves hot[k] and the units after it would take: one each while FAST has room, two (a
  // trade) after.
  const auto blocked_from = [&](std::size_t k) {
    const std::size_t left = hot.size() - k, room = budget_units > fast ? budget_units - fast : 0;
    return left <= room ? left : room + 2 * (left - room);
  };
  for (std::size_t k = 0; k < hot.size(); ++k) {
    const Ref &h = hot[k];
    if (credit < config_.unit) break;
    if (!fits_in_budget(1)) {
      blocked_moves_ = blocked_from(k);
      break;
    }
    if (now - h.r->units[h.i].left < residency) continue;
    if (fast < budget_units) {
      if (promote(*h.r, h.i, now)) {
        ++fast;
        credit -= config_.unit;
      }
      continue;
    }
    // Full: trade with the coldest fast unit that has stayed long enough and is clearly colder.
    while (next_cold < cold.size() &&
           now - cold[next_cold].r->units[cold[next_cold].i].arrived < residency)
      ++next_cold;
    if (next_cold >= cold.size() || credit < 2 * config_.unit) break;
    const Ref &c = cold[next_cold];
    if (!clearly_hotter(h.score, c.score)) break;  // stay put
    if (!fits_in_budget(2)) {
      blocked_moves_ = blocked_from(k);
      break;
    }
    ++next_cold;
    if (demote(*c.r, c.i, now)) {
      credit -= config_.unit;
      if (promote(*h.r, h.i, now)) credit -= config_.unit;
      else --fast;
    }
  }
  return wanted;
}

void Engine::set_write_source(WriteSource source) {
  std::lock_guard<std::mutex> lock(mu_);
  source_ = std::move(source);
}

int Engine::written(const Region &r) {
  if (source_.written) return source_.written(r.base, r.len, config_.unit, counts_);
  return tracker_.written(r.base, r.len, config_.unit, counts_);
}

void Engine::clear_writes() {
  if (source_.clear) {
    source_.clear();
  } else if (tracker_open_) {
    tracker_.clear();
  }
}

}  // namespace tiermem::migrate

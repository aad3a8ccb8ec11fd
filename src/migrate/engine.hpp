// The migration engine: a thread that keeps the most-written units of registered regions on
// the fast node, at most a budget of them, without changing any address. It is the mechanism
// under the migrating policy auto(FAST<=SIZE, SLOW): the api layer (api/migration.cpp)
// registers the slow tier's memory as its backend maps it (a growing region, see add_region).
//
// Each interval the thread reads which pages were written since the last interval (soft-dirty,
// track.hpp), scores each unit (score = score / 2 + pages written), and moves units: the
// hottest slow ones up while the budget has room, and when it is full, one that is clearly
// hotter than the coldest fast unit in exchange for it, provided that unit has stayed on the
// fast node for `min_residency_ms` (so a unit cannot bounce). Moves are limited to `rate`
// bytes per second and the thread to `cpu_budget` of a core (a bucket of CPU time that holds
// ten intervals' share: a scan or a move starts only if it fits at its expected cost). A unit on a node moves with
// move_pages(2); a unit of a file or device
// (memfd, /dev/daxX.Y) moves by copy and remap (move.hpp), so its address stays.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <pthread.h>
#include <vector>

#include "migrate/track.hpp"

namespace tiermem::migrate {

struct EngineConfig {
  int fast_node = 0;
  std::size_t budget = 0;                  ///< bytes of the regions on the fast node at most
  std::size_t unit = std::size_t{2} << 20;  ///< what moves at once (a multiple of 4 KiB)
  unsigned interval_ms = 500;
  std::size_t rate = std::size_t{256} << 20;  ///< bytes moved per second at most
  unsigned min_residency_ms = 2000;        ///< on either side before a unit may move again
  double cpu_budget = 0.03;                ///< of one core, for the engine's thread
};

/** Where a region's memory lives when it is not on the fast node. */
struct SlowMemory {
  int node = -1;     ///< a NUMA node (pages move with move_pages), or
  int fd = -1;       ///< a file or device whose pages at `offset` are mapped at the region
  off_t offset = 0;
  /** Bytes per soft-dirty bit of the slow memory's mapping: 4 KiB, or a device's align (a
   *  devdax device of align 2 MiB maps whole 2 MiB pages). Above 4 KiB every unit, on either
   *  node, counts as all written or not written at all, so that a promoted unit (anonymous
   *  4 KiB pages) is not scored finer than the units left on the device. */
  std::size_t granule = 4096;
};

struct EngineStats {
  std::uint64_t promoted = 0, demoted = 0;  ///< bytes
  std::uint64_t moved_back_within_10s = 0;  ///< bytes demoted less than 10 s after promotion
  std::uint64_t scans = 0;
  std::uint64_t failed_moves = 0;
  std::uint64_t thread_cpu_ns = 0;          ///< CPU time of the engine's thread(s), every run
  std::uint64_t move_cpu_ns = 0;            ///< of thread_cpu_ns, the time in moves (move_pages, copy + remap)
  /** The wait between scans now, in intervals: 1, or up to 8 while nothing is worth moving. */
  unsigned stretch = 1;
  std::size_t fast_bytes = 0;               ///< bytes on the fast node now
};

/** One region's share of the moves (EngineStats' first fields, for that region alone). */
struct RegionStats {
  std::uint64_t promoted = 0, demoted = 0, moved_back_within_10s = 0;
  std::size_t fast_bytes = 0;
};

/**
 * Where the engine learns which pages were written. Unset: the kernel's soft-dirty bits
 * (WriteTracker). A replacement answers as WriteTracker::written and clear do; tests use one
 * to drive the moves on kernels without soft-dirty bits, where the engine otherwise refuses
 * to start.
 */
struct WriteSource {
  std::function<int(const void *, std::size_t, std::size_t, std::vector<std::uint32_t> &)> written;
  std::function<void()> clear;
};

class Engine {
 public:
  Engine() = default;
  ~Engine();
  Engine(const Engine &) = delete;
  Engine &operator=(const Engine &) = delete;

  /**
   * Registers [base, base + len), now wholly on `slow`. `base` and `len` must be multiples of
   * the unit (start() checks the config; until then 2 MiB). Returns 0 or throws tiermem::Error
   * naming what is wrong: a slow node that is the fast node, a range that overlaps another.
   */
  void add_region(void *base, std::size_t len, SlowMemory slow);

  /**
   * Registers a region that grows: at most [base, base + capacity) (rounded down to the unit),
   * of which the engine tracks and moves only the first `extent()` bytes (rounded up to the
   * unit), asked again at each interval. For memory mapped as it is used (a tier's backend
   * hands out extents from its start): the pagemap read is per page, so what was never handed
   * out is never scanned. `extent` is called with the engine's lock held, from its thread: it
   * must be cheap and take no lock the engine's users hold while calling it. Throws as above.
   */
  void add_region(void *base, std::size_t capacity, SlowMemory slow,
                  std::function<std::size_t()> extent);

  /**
   * Changes the pacing of a started (or stopped) engine from its next interval: interval,
   * rate, CPU budget and minimum residency of `config` (0 fields keep theirs; the fast node,
   * budget and unit cannot change). Throws tiermem::Error (-EINVAL) for a CPU budget outside
   * (0, 1].
   */
  void tune(const EngineConfig &config);

  /** Replaces the soft-dirty bits as the engine's source of writes; before start(). */
  void set_write_source(WriteSource source);

  /** Whether the thread runs (started and not stopped). */
  bool running() const;
  /** The config of the last start() (its pacing as tune() left it). */
  EngineConfig config() const;

  /** Starts the thread. Throws tiermem::Error for a budget larger than the fast node's memory,
   *  a unit that is not a multiple of 4 KiB, or a kernel without soft-dirty bits. */
  void start(const EngineConfig &config);

  /** Stops the thread after its current move; every unit stays where it is, valid. In a
   *  child of fork(), where the thread does not exist, it only marks the engine stopped: the
   *  child's memory is all valid where it is (no move is ever in flight across a fork). */
  void stop();

  EngineStats stats() const;

  /** 1: the byte at `p` is on the fast node, 0: on its slow memory, -1: not in a region. */
  int placement(const void *p) const;

  /** The moves of the region registered at `base` (zeros for none). */
  RegionStats region_stats(const void *base) const;

 private:
  struct Unit {
    std::uint32_t score = 0;
    bool fast = false;
    double arrived = -1;  // seconds since start() when it reached the fast node
    double left = -1e9;   // ... and when it last went back
    bool stuck = false;   // its copy met a memory error: it stays where it is for good
    std::uint32_t last = 0;      // pages written in the last window
    bool above_average = false;  // last >= the average over the units written in that window
  };
  struct Region {
    char *base;
    std::size_t len;       // tracked now: a multiple of the unit, at most cap
    SlowMemory slow;
    std::vector<Unit> units;
    std::size_t cap = 0;   // the most it grows to
    std::function<std::size_t()> extent;  // empty: a fixed region
    RegionStats moved;     // promoted, demoted, moved back (fast_bytes: see region_stats)
  };

  static void *thread_main(void *self);
  void run();
  static void before_fork();
  static void after_fork_parent();
  static void after_fork_child();
  bool interval(double now, std::size_t &move_credit);
  void grow(Region &r);
  double since_t0() const;
  double bucket_cap() const;
  void fill_bucket();
  bool fits_in_budget(int moves);
  int move_unit(Region &r, std::size_t i, bool to_fast);
  bool promote(Region &r, std::size_t i, double now);
  bool demote(Region &r, std::size_t i, double now);

  EngineConfig config_;
  WriteTracker tracker_;
  bool tracker_open_ = false;
  WriteSource source_;
  int written(const Region &r);
  void clear_writes();
  std::vector<Region> regions_;
  mutable std::mutex mu_;  // regions_, stats_; held by the thread for a whole interval
  std::condition_variable wake_;
  bool stopping_ = false;
  bool running_ = false;
  std::uint64_t cpu_at_start_ = 0;
  std::uint64_t cpu_before_ = 0;  // CPU time of the runs before this one
  bool started_once_ = false;
  std::chrono::steady_clock::time_point t0_;  // the first start(): every run's clock
  // One move's CPU time as expected: the last dearer move's, decaying towards cheaper ones;
  // at first a copy at 1 GiB/s (a unit of 2 MiB: 2 ms; in the VM a move took 25-90 ms).
  double move_cost_ns_ = 0;
  double scan_cost_ns_ = 0;  // the last scan's, its clear included
  // The CPU budget as a bucket of the thread's CPU time: filled at cpu_budget ns per ns of
  // wall time, drained by what the thread spends (below 0 after an overrun, paid back
  // first), holding at most ten intervals' share (fill_bucket): time the engine left unused
  // while idle does not pile up into a burst (averaged since start, three idle seconds at 10%
  // let the thread spend 32% of a core on the next four trades, test_engine).
  double cpu_bucket_ns_ = 0;
  // Moves the last interval wanted that the bucket had no room for (an estimate: the hot
  // units left, two moves each once FAST is full). run() waits for their room before the
  // next scan rather than spend it on scans that would find the same units.
  std::size_t blocked_moves_ = 0;
  // The last scan saw a slow unit clearly hot for the first time, worth moving: run() scans
  // again after one window to confirm it (a unit moves after two windows above the average).
  bool confirm_next_ = false;
  double bucket_at_ = 0;         // when last filled, on since_t0()'s clock
  std::uint64_t bucket_cpu_ = 0;  // the thread's CPU time then
  pthread_t thread_{};
  EngineStats stats_;
  std::vector<std::uint32_t> counts_;
  // How long before each read the write bits are cleared (<= the interval). A write bit says
  // only "written at least once": when most tracked pages are written within the window, hot
  // and cold units look alike (GUPS in the VM, with a fixed 500 ms window: the budget filled
  // once and no unit was ever traded), so the window halves until at most a quarter of the
  // pages are, and doubles back while under a sixteenth are (DAMON adapts its regions for the
  // same reason). A quarter: a unit must score twice another to take its place on FAST, and a
  // hot unit's count stops at all its pages.
  double window_ms_ = 0;
};

}  // namespace tiermem::migrate

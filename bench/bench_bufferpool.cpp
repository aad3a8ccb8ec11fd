// The buffer pool (issue 7), two benchmarks:
//
// 1. The hit path on the fast tier, two ways: pin + unpin (BM_HitBufferPool) and a pin-less
//    read() of one byte (BM_HitBufferPoolRead), against the lookup a database would otherwise
//    do, a std::unordered_map from page id to page, plain (no synchronisation: the floor)
//    and guarded by a std::mutex (what a shared table needs without the pool's lock-free
//    lookup). The map's pages are blocks of the same tier allocated as the pool's frames are,
//    and every variant loads the page's first byte (a volatile load: a plain one whose value
//    only went to DoNotOptimize was dropped by GCC, so the map's loop never touched its
//    pages). Goal: within 1.2x of the plain lookup. 1 and 2 threads share one pool or map.
//    Beside them, two yardsticks: the pin floor (two atomics, no lookup) and a model of
//    read()'s fast path (BM_HitModel) that adds its duties one at a time.
//
// 2. A zipfian (theta 0.99) read/update workload over a data set 4x the fast tier, on three
//    pools: "tiered" (the fast tier + an emulated slow tier holding the rest: nothing goes
//    back to storage), "all_fast" (a fast tier as big as the data) and "fast_only" (the fast
//    tier alone: the rest is reread from storage). Storage is a file read and written with
//    pread/pwrite: served by the kernel's page cache (cached) or by the disk (O_DIRECT, the
//    way a database that manages its own cache reads). Counters: per-tier hit and miss rates
//    per operation; throughput is items_per_second.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench_bufferpool_zipf.hpp"
#include "bufferpool/page_table.hpp"
#include "safety/copy_mc.hpp"
#include "tiermem/bufferpool.hpp"
#include "tiermem/tiermem.h"

namespace {

const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "fast:1G,slow:1G", 0);
  return 0;
}();

constexpr std::size_t kPage = 8192;

// ---------------------------------------------------------------------------------------
// 1. Hit path

std::vector<std::uint64_t> random_ids(std::size_t pages, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::vector<std::uint64_t> ids(1 << 16);
  for (auto &id : ids) id = rng() % pages;
  return ids;
}

// Built once per page count and shared by the threads of a run (and kept to the end).
template <class T>
T &shared(std::size_t pages) {
  static std::mutex mu;
  static std::map<std::size_t, std::unique_ptr<T>> made;
  std::lock_guard g(mu);
  auto &p = made[pages];
  if (!p) p = std::make_unique<T>(pages);
  return *p;
}

struct HitPool {
  tiermem::BufferPool pool;
  explicit HitPool(std::size_t pages) : pool(options(pages)) {
    for (std::size_t id = 0; id < pages; ++id) pool.pin(id);  // all resident: every pin hits
  }
  static tiermem::BufferPool::Options options(std::size_t pages) {
    tiermem::BufferPool::Options o;
    o.page_size = kPage;
    o.tiers = {{"emulated:fast", pages * kPage}};
    o.read = [](std::uint64_t id, std::span<std::byte> p) {
      std::memcpy(p.data(), &id, sizeof id);
      return 0;
    };
    return o;
  }
};

// The pages are the same memory as the pool's frames: 4 KiB-aligned blocks of the same tier,
// allocated one by one as the pool allocates its frames, so that the two differ only by
// the lookup.
struct HitMap {
  std::vector<std::byte *> mem;
  std::unordered_map<std::uint64_t, std::byte *> table;
  std::mutex mu;
  explicit HitMap(std::size_t pages) {
    tm_tier *tier = tm_tier_find("emulated:fast");
    if (tier == nullptr) throw std::runtime_error(tm_last_error());
    for (std::size_t id = 0; id < pages; ++id) {
      auto *p = static_cast<std::byte *>(tm_aligned_alloc(tier, 4096, kPage));
      if (p == nullptr) throw std::runtime_error(tm_last_error());
      std::memcpy(p, &id, sizeof id);
      mem.push_back(p);
      table.emplace(id, p);
    }
  }
  ~HitMap() {
    for (std::byte *p : mem) tm_free(p);
  }
};

// Loads the byte: a volatile read, because GCC drops a plain load whose value only goes to
// DoNotOptimize (objdump showed the unordered_map loop never touching its pages).
inline void read_byte(const std::byte *p) {
  std::byte v = *static_cast<const volatile std::byte *>(p);
  benchmark::DoNotOptimize(v);
}

// Hits resident pages of the shared pool in a random order: `hit(pool, id)` per iteration.
// Marks the run failed when any hit missed.
template <class Hit>
void pool_hits(benchmark::State &state, Hit hit) {
  auto pages = static_cast<std::size_t>(state.range(0));
  tiermem::BufferPool &pool = shared<HitPool>(pages).pool;
  auto ids = random_ids(pages, 7 + static_cast<unsigned>(state.thread_index()));
  auto before = pool.stats();
  std::size_t i = 0;
  for (auto _ : state) hit(pool, ids[i++ & (ids.size() - 1)]);
  if (pool.stats().misses != before.misses) state.SkipWithError("a hit missed");
}

void BM_HitBufferPool(benchmark::State &state) {
  pool_hits(state, [](tiermem::BufferPool &pool, std::uint64_t id) {
    tiermem::BufferPool::Pin p = pool.pin(id);
    read_byte(p.data().data());
  });
}

// The same hit through read(): the first byte copied out without a pin.
void BM_HitBufferPoolRead(benchmark::State &state) {
  pool_hits(state, [](tiermem::BufferPool &pool, std::uint64_t id) {
    std::byte b[1];
    pool.read(id, 0, b);
    read_byte(b);
  });
}

void BM_HitUnorderedMap(benchmark::State &state) {
  HitMap &m = shared<HitMap>(static_cast<std::size_t>(state.range(0)));
  auto ids = random_ids(m.mem.size(), 7 + static_cast<unsigned>(state.thread_index()));
  std::size_t i = 0;
  for (auto _ : state) {
    std::byte *p = m.table.find(ids[i++ & (ids.size() - 1)])->second;  // read-only: no race
    read_byte(p);
  }
}

void BM_HitMutexUnorderedMap(benchmark::State &state) {
  HitMap &m = shared<HitMap>(static_cast<std::size_t>(state.range(0)));
  auto ids = random_ids(m.mem.size(), 7 + static_cast<unsigned>(state.thread_index()));
  std::size_t i = 0;
  for (auto _ : state) {
    std::lock_guard g(m.mu);
    std::byte *p = m.table.find(ids[i++ & (ids.size() - 1)])->second;
    read_byte(p);
  }
}

// The floor of any design that pins with a counter: no lookup at all (the page id indexes an
// array), only the pin's atomic add and the unpin's atomic subtract on a word of the page's
// own cache line, around the byte load. When this alone costs more than 1.2x of the plain map
// (which also hashes), no pin-counting pool meets the goal on this machine.
struct PinFloor {
  struct alignas(64) Word {
    std::atomic<std::uint64_t> pins{0};
  };
  HitMap &map;
  std::unique_ptr<Word[]> words;
  explicit PinFloor(std::size_t pages)
      : map(shared<HitMap>(pages)), words(std::make_unique<Word[]>(pages)) {}
};

void BM_HitPinFloor(benchmark::State &state) {
  auto pages = static_cast<std::size_t>(state.range(0));
  PinFloor &f = shared<PinFloor>(pages);
  auto ids = random_ids(pages, 7 + static_cast<unsigned>(state.thread_index()));
  std::size_t i = 0;
  for (auto _ : state) {
    std::uint64_t id = ids[i++ & (ids.size() - 1)];
    f.words[id].pins.fetch_add(1, std::memory_order_acquire);
    read_byte(f.map.mem[id]);
    f.words[id].pins.fetch_sub(1, std::memory_order_release);
  }
}


// What the hit path's duties cost, one at a time: a model of read()'s fast path, measured in
// the same run as the pool and the map (this machine has no performance counters to attribute
// the pool's own time, and its run-to-run spread hides single changes between builds). The
// model is the pool's own page table (page_table.hpp) over the pool's own frame memory, and
// BM_HitModel<k> does the first k of read()'s duties:
//   0: the lookup and a load of the page's byte (a hash table as lean as the pool's);
//   1: + the slot's sequence lock checked unchanged after the load;
//   2: + the machine-check-safe inline copy of the byte, instead of a plain load;
//   3: + CLOCK's reference bit (a load, and a store when clear);
//   4: + the hit counted in the thread's stripe;
//   5: all of 4 as a call the compiler cannot see into (noipa), with the length a runtime
//      argument: read()'s fast path without the pool's own fields and range checks.
// Steps 0..4 are inline with a constant length, as if read() were inlined into the caller.
struct HitModel {
  struct Frame {
    std::byte *mem;
  };
  struct alignas(64) Stripe {
    std::atomic<std::uint64_t> hits{0};
  };
  std::vector<Frame> frames;
  tiermem::bufferpool_detail::PageTable<Frame> table;
  std::unique_ptr<std::atomic<bool>[]> refs;
  std::unique_ptr<Stripe[]> stripes = std::make_unique<Stripe[]>(2);

  explicit HitModel(std::size_t pages)
      : frames(pages), table(pages), refs(std::make_unique<std::atomic<bool>[]>(pages)) {
    tiermem::BufferPool &pool = shared<HitPool>(pages).pool;  // its frames' memory
    for (std::size_t id = 0; id < pages; ++id) {
      frames[id].mem = pool.pin(id).data().data();
      table.insert(id, &frames[id], static_cast<std::uint32_t>(id));
      refs[id] = true;
    }
    if (tm_safety_init() != 0) throw std::runtime_error(tm_last_error());
  }
};

constinit thread_local unsigned t_model_stripe = 0;

// One hit of the model, doing the first `Duties` duties; false where read() would take its
// general path.
template <int Duties>
[[gnu::always_inline]] inline bool model_hit(HitModel &m, std::uint64_t id, std::byte *dst,
                                             std::size_t n) {
  using Table = tiermem::bufferpool_detail::PageTable<HitModel::Frame>;
  auto snap = m.table.snapshot(id);
  if (snap.slot == nullptr) return false;
  if constexpr (Duties >= 2) {
    if (!tiermem::safety::copy_small_mc(dst, snap.mem, n)) return false;
  } else {
    *dst = *static_cast<const volatile std::byte *>(snap.mem);
  }
  if constexpr (Duties >= 1)
    if (!Table::unchanged(snap)) return false;
  if constexpr (Duties >= 3) {
    std::atomic<bool> &ref = m.refs[snap.meta];
    if (!ref.load(std::memory_order_relaxed)) ref.store(true, std::memory_order_relaxed);
  }
  if constexpr (Duties >= 4) {
    unsigned t = t_model_stripe;
    if (t == 0) t_model_stripe = t = 1;  // one stripe is enough for one thread
    std::atomic<std::uint64_t> &c = m.stripes[t].hits;
    c.store(c.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
  return true;
}

[[gnu::noipa]] bool model_hit_call(HitModel &m, std::uint64_t id, std::byte *dst,
                                   std::size_t n) {
  return model_hit<4>(m, id, dst, n);
}

template <int Step>
void BM_HitModel(benchmark::State &state) {
  auto pages = static_cast<std::size_t>(state.range(0));
  HitModel &m = shared<HitModel>(pages);
  auto ids = random_ids(pages, 7);
  std::size_t i = 0;
  bool ok = true;
  for (auto _ : state) {
    std::byte b[1];
    if constexpr (Step == 5)
      ok &= model_hit_call(m, ids[i++ & (ids.size() - 1)], b, sizeof b);
    else
      ok &= model_hit<Step>(m, ids[i++ & (ids.size() - 1)], b, sizeof b);
    read_byte(b);
  }
  if (!ok) state.SkipWithError("a model hit took read()'s general path");
}

BENCHMARK(BM_HitBufferPool)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384)->Threads(1)->Threads(2);
BENCHMARK(BM_HitBufferPoolRead)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384)->Threads(1)->Threads(2);
BENCHMARK(BM_HitUnorderedMap)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384)->Threads(1)->Threads(2);
BENCHMARK(BM_HitMutexUnorderedMap)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384)->Threads(1)->Threads(2);
BENCHMARK(BM_HitPinFloor)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384)->Threads(1)->Threads(2);
BENCHMARK(BM_HitModel<0>)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK(BM_HitModel<1>)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK(BM_HitModel<2>)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK(BM_HitModel<3>)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK(BM_HitModel<4>)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384);
BENCHMARK(BM_HitModel<5>)->Arg(8)->Arg(64)->Arg(1024)->Arg(16384);

// ---------------------------------------------------------------------------------------
// 2. Zipfian read/update over a data set 4x the fast tier

constexpr std::size_t kDataPages = 8192;             // 64 MiB of 8 KiB pages
constexpr std::size_t kFastPages = kDataPages / 4;   // 16 MiB fast tier
constexpr std::size_t kRecord = 256;                 // bytes an operation reads or writes
constexpr unsigned kUpdatePercent = 10;

struct Op {
  std::uint32_t page;
  std::uint16_t offset;  // of the record in the page
  bool update;
};

// The operation stream, drawn once (drawing costs more than a hit). Ranks are scattered over
// the page ids (a multiplication by an odd constant permutes [0, 2^k)), as hot rows are.
const std::vector<Op> &zipf_ops() {
  static const std::vector<Op> ops = [] {
    static_assert((kDataPages & (kDataPages - 1)) == 0, "the scatter needs a power of two");
    tiermem::bench::Zipf zipf(kDataPages, 0.99);
    std::mt19937_64 rng(99);
    std::vector<Op> v(1 << 21);
    for (Op &op : v) {
      std::size_t rank = zipf(rng);
      op.page = static_cast<std::uint32_t>((rank * 0x9E3779B97F4A7C15ull) & (kDataPages - 1));
      op.offset = static_cast<std::uint16_t>((rng() % (kPage / kRecord)) * kRecord);
      op.update = rng() % 100 < kUpdatePercent;
    }
    return v;
  }();
  return ops;
}

// The database file: kDataPages pages, read and written whole, through the kernel's page
// cache or with O_DIRECT (the same file: the kernel keeps the two coherent).
class FileStorage {
 public:
  FileStorage() {
    char path[] = "/tmp/tiermem-bench-pool-XXXXXX";
    cached_ = mkstemp(path);
    if (cached_ < 0) throw std::runtime_error("bench_bufferpool: mkstemp in /tmp failed");
    std::vector<std::byte> page(kPage);
    for (std::uint64_t id = 0; id < kDataPages; ++id) {
      std::memcpy(page.data(), &id, sizeof id);
      if (pwrite(cached_, page.data(), kPage, static_cast<off_t>(id * kPage)) != kPage)
        throw std::runtime_error("bench_bufferpool: writing the data file in /tmp failed");
    }
    fsync(cached_);
    direct_ = open(path, O_RDWR | O_DIRECT);
    unlink(path);
    if (direct_ < 0)
      throw std::runtime_error(std::string("bench_bufferpool: opening the data file with "
                                           "O_DIRECT failed (") + strerror(errno) +
                               "); run from a file system that supports it");
    // O_DIRECT wants aligned buffers; the pool's frames are, its write-back copy is not.
    aligned_.reset(static_cast<std::byte *>(std::aligned_alloc(4096, kPage)));
  }
  ~FileStorage() {
    close(cached_);
    close(direct_);
  }
  FileStorage(const FileStorage &) = delete;
  FileStorage &operator=(const FileStorage &) = delete;

  bool direct = false;

  int read(std::uint64_t id, std::span<std::byte> out) {
    ssize_t n = pread(fd(), out.data(), kPage, static_cast<off_t>(id * kPage));
    return n == static_cast<ssize_t>(kPage) ? 0 : n < 0 ? -errno : -EIO;
  }
  int write(std::uint64_t id, std::span<const std::byte> in) {
    std::memcpy(aligned_.get(), in.data(), kPage);
    ssize_t n = pwrite(fd(), aligned_.get(), kPage, static_cast<off_t>(id * kPage));
    return n == static_cast<ssize_t>(kPage) ? 0 : n < 0 ? -errno : -EIO;
  }

 private:
  struct Free {
    void operator()(std::byte *p) const { std::free(p); }
  };
  int fd() const { return direct ? direct_ : cached_; }
  int cached_ = -1, direct_ = -1;
  std::unique_ptr<std::byte, Free> aligned_;
};

enum class Layout { Tiered, AllFast, FastOnly };

// Args: storage (0 = the kernel's page cache, 1 = O_DIRECT), promote_after.
void run_zipf(benchmark::State &state, Layout layout) {
  static FileStorage storage;
  storage.direct = false;
  tiermem::BufferPool::Options o;
  o.page_size = kPage;
  switch (layout) {
    case Layout::Tiered:
      o.tiers = {{"emulated:fast", kFastPages * kPage},
                 {"emulated:slow", (kDataPages - kFastPages) * kPage}};
      break;
    case Layout::AllFast: o.tiers = {{"emulated:fast", kDataPages * kPage}}; break;
    case Layout::FastOnly: o.tiers = {{"emulated:fast", kFastPages * kPage}}; break;
  }
  o.read = [&](std::uint64_t id, std::span<std::byte> p) { return storage.read(id, p); };
  o.write = [&](std::uint64_t id, std::span<const std::byte> p) { return storage.write(id, p); };
  o.promote_after = static_cast<unsigned>(state.range(1));
  tiermem::BufferPool pool(std::move(o));

  const std::vector<Op> &ops = zipf_ops();
  auto apply = [&](const Op &op) {
    tiermem::BufferPool::Pin p = pool.pin(op.page);
    std::byte *rec = p.data().data() + op.offset;
    if (op.update) {
      std::memset(rec, static_cast<int>(op.page & 0xff), kRecord);
      p.mark_dirty();
    } else {
      std::uint64_t sum = 0;
      for (std::size_t i = 0; i < kRecord; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, rec + i, 8);
        sum += w;
      }
      benchmark::DoNotOptimize(sum);
    }
  };
  // Warm up (through the kernel's cache, which is quicker): the pool in its steady state,
  // each tier full and the hot pages promoted.
  constexpr std::size_t kWarm = 400000;
  for (std::size_t i = 0; i < kWarm; ++i) apply(ops[i]);
  storage.direct = state.range(0) != 0;

  auto before = pool.stats();
  std::size_t i = kWarm, done = 0;
  for (auto _ : state) {
    apply(ops[i]);
    if (++i == ops.size()) i = 0;
    ++done;
  }
  auto after = pool.stats();
  auto rate = [&](std::uint64_t a, std::uint64_t b) {
    return benchmark::Counter(static_cast<double>(a - b) / static_cast<double>(done));
  };
  state.SetItemsProcessed(static_cast<std::int64_t>(done));
  state.counters["fast_hit"] = rate(after.tiers[0].hits, before.tiers[0].hits);
  state.counters["slow_hit"] =
      after.tiers.size() > 1 ? rate(after.tiers[1].hits, before.tiers[1].hits) : benchmark::Counter(0);
  state.counters["miss"] = rate(after.misses, before.misses);
  state.counters["promote"] = rate(after.promotions, before.promotions);
  state.counters["writeback"] = rate(after.writebacks, before.writebacks);
  storage.direct = false;  // the pool's destructor writes dirty pages back through the cache
}

void BM_ZipfTiered(benchmark::State &state) { run_zipf(state, Layout::Tiered); }
void BM_ZipfAllFast(benchmark::State &state) { run_zipf(state, Layout::AllFast); }
void BM_ZipfFastOnly(benchmark::State &state) { run_zipf(state, Layout::FastOnly); }

// Wall-clock time: a miss waits for storage. promote_after 2 is the pool's default.
BENCHMARK(BM_ZipfTiered)->ArgNames({"direct", "promote"})->Args({0, 2})->Args({1, 2})
    ->Args({1, 8})->UseRealTime();
BENCHMARK(BM_ZipfAllFast)->ArgNames({"direct", "promote"})->Args({0, 2})->Args({1, 2})
    ->UseRealTime();
BENCHMARK(BM_ZipfFastOnly)->ArgNames({"direct", "promote"})->Args({0, 2})->Args({1, 2})
    ->UseRealTime();

}  // namespace

BENCHMARK_MAIN();

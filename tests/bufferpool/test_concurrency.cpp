// Threads pin random pages of a data set larger than the pool while others rewrite pages:
// every page read must be whole and hold the latest version written (demotion, promotion
// and eviction move pages under the readers).
#include <atomic>
#include <cstring>
#include <mutex>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "bufferpool/storage.hpp"
#include "tiermem/bufferpool.hpp"

using tiermem::BufferPool;
using tiermem::test::make_page;
using tiermem::test::page_version;
using tiermem::test::Storage;

namespace {
// The database's content latch per page and the version it last wrote.
struct Latch {
  std::mutex mu;
  std::uint64_t version = 0;
};

// After a run: storage holds every page's latest version once flushed, and the run moved
// pages every way without retiring a frame.
void check_flushed_and_moved(BufferPool &pool, Storage &st, const std::vector<Latch> &latches) {
  pool.flush();
  for (std::size_t id = 0; id < latches.size(); ++id)
    CHECK(page_version(st.pages[id], id) == static_cast<std::int64_t>(latches[id].version));
  BufferPool::Stats s = pool.stats();
  CHECK(s.demotions > 0);
  CHECK(s.promotions > 0);
  CHECK(s.evictions > 0);
  CHECK(s.retired == 0);
}
}  // namespace

TEST_CASE("pages keep their content while threads pin, rewrite, demote, promote and evict") {
  constexpr std::size_t kPages = 160, kThreads = 4, kOps = 20000;
  Storage st(kPages, 4096);
  BufferPool pool(st.options(16, 48));
  std::vector<Latch> latches(kPages);
  std::atomic<int> bad{0}, busy{0};

  auto worker = [&](unsigned seed) {
    std::mt19937_64 rng(seed);
    // Skewed: half the accesses go to 20 hot pages, so promotions happen.
    std::uniform_int_distribution<std::size_t> hot(0, 19), any(0, kPages - 1), coin(0, 7);
    for (std::size_t op = 0; op < kOps; ++op) {
      std::size_t id = coin(rng) < 4 ? hot(rng) : any(rng);
      BufferPool::Pin p;
      try {
        p = pool.pin(id);
      } catch (const tiermem::Error &e) {
        if (e.code() == -EBUSY) { ++busy; continue; }
        throw;
      }
      std::lock_guard g(latches[id].mu);
      if (page_version(p.data(), id) != static_cast<std::int64_t>(latches[id].version)) ++bad;
      if (coin(rng) == 0) {
        make_page(p.data(), id, ++latches[id].version);
        p.mark_dirty();
      }
    }
  };
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t) threads.emplace_back(worker, 1234 + t);
  for (auto &t : threads) t.join();

  CHECK(bad == 0);
  CHECK(busy == 0);  // 4 threads pin one page each: 64 frames always have a victim
  check_flushed_and_moved(pool, st, latches);
  BufferPool::Stats s = pool.stats();
  CHECK(s.writebacks > 0);
  MESSAGE("hits fast=" << s.tiers[0].hits << " slow=" << s.tiers[1].hits << " misses=" << s.misses
                       << " promotions=" << s.promotions << " demotions=" << s.demotions
                       << " evictions=" << s.evictions << " writebacks=" << s.writebacks);
}

TEST_CASE("a hit completes while another thread's miss is stalled in the storage callback") {
  Storage st(8, 4096);
  auto o = st.options(4, 4);
  std::atomic<bool> reading{false}, open{false};  // the read of page 5 waits for `open`
  auto inner_read = o.read;
  o.read = [&](std::uint64_t id, std::span<std::byte> p) {
    if (id == 5) {
      reading = true;
      while (!open) std::this_thread::yield();
    }
    return inner_read(id, p);
  };
  BufferPool pool(std::move(o));
  pool.pin(1);
  std::atomic<std::int64_t> missed_version{-2};
  std::thread miss([&] { missed_version = page_version(pool.pin(5).data(), 5); });
  while (!reading) std::this_thread::yield();
  // The miss holds the pool mutex inside the callback: a hit that needed it would hang here.
  CHECK(page_version(pool.pin(1).data(), 1) == 0);
  CHECK(pool.pin_raw(1) != nullptr);
  pool.unpin(1, false);
  open = true;
  miss.join();
  CHECK(missed_version == 0);
  CHECK(st.reads == 2);
}

TEST_CASE("hits from several threads are all counted, on the tier that served them") {
  constexpr std::size_t kThreads = 4, kHits = 50000;
  Storage st(16, 4096);
  auto o = st.options(8, 8);
  o.promote_after = 1000000;  // pages stay where they are
  BufferPool pool(std::move(o));
  for (std::uint64_t id = 0; id < 16; ++id) pool.pin(id);  // 0..7 demoted to the slow tier
  BufferPool::Stats before = pool.stats();
  CHECK(before.tiers[0].used == 8);
  CHECK(before.tiers[1].used == 8);
  std::atomic<int> wrong_page{0};
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (std::size_t i = 0; i < kHits; ++i) {
        std::uint64_t id = (t + i) % 16, got;
        BufferPool::Pin p = pool.pin(id);
        std::memcpy(&got, p.data().data(), sizeof got);
        if (got != id) ++wrong_page;
      }
    });
  for (auto &t : threads) t.join();
  CHECK(wrong_page == 0);
  BufferPool::Stats s = pool.stats();
  CHECK(s.misses == 16);
  CHECK(s.tiers[0].hits - before.tiers[0].hits == kThreads * kHits / 2);
  CHECK(s.tiers[1].hits - before.tiers[1].hits == kThreads * kHits / 2);
}

TEST_CASE("pin-less reads see whole pages while other threads move, rewrite and evict them") {
  constexpr std::size_t kPages = 160, kOps = 20000;
  Storage st(kPages, 4096);
  BufferPool pool(st.options(16, 48));
  std::vector<Latch> latches(kPages);
  std::atomic<int> bad{0}, wrong_id{0};
  std::atomic<std::uint64_t> reads{0};

  // Writers pin under the page's latch and rewrite it, and their misses move pages.
  auto writer = [&](unsigned seed) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> hot(0, 19), any(0, kPages - 1), coin(0, 7);
    for (std::size_t op = 0; op < kOps; ++op) {
      std::size_t id = coin(rng) < 4 ? hot(rng) : any(rng);
      std::lock_guard g(latches[id].mu);
      BufferPool::Pin p = pool.pin(id);
      if (coin(rng) < 2) {
        make_page(p.data(), id, ++latches[id].version);
        p.mark_dirty();
      }
    }
  };
  // Readers: the whole page under its latch (content and version must match), or the page's
  // id field without a latch (never rewritten, so it must always be the page asked for,
  // whichever frame the page is in when the copy runs).
  auto reader = [&](unsigned seed, bool latched) {
    std::mt19937_64 rng(seed);
    std::uniform_int_distribution<std::size_t> hot(0, 19), any(0, kPages - 1), coin(0, 7);
    std::vector<std::byte> page(4096);
    for (std::size_t op = 0; op < kOps; ++op) {
      std::size_t id = coin(rng) < 4 ? hot(rng) : any(rng);
      if (latched) {
        std::lock_guard g(latches[id].mu);
        pool.read(id, 0, page);
        if (page_version(page, id) != static_cast<std::int64_t>(latches[id].version)) ++bad;
      } else {
        std::uint64_t got;
        pool.read(id, 0, std::as_writable_bytes(std::span(&got, 1)));
        if (got != id) ++wrong_id;
      }
      ++reads;
    }
  };
  std::vector<std::thread> threads;
  threads.emplace_back(writer, 11);
  threads.emplace_back(writer, 12);
  threads.emplace_back(reader, 13, true);
  threads.emplace_back(reader, 14, false);
  threads.emplace_back(reader, 15, false);
  for (auto &t : threads) t.join();

  CHECK(bad == 0);
  CHECK(wrong_id == 0);
  check_flushed_and_moved(pool, st, latches);
  BufferPool::Stats s = pool.stats();
  // Every operation is one hit or one miss, pins and reads alike.
  std::uint64_t hits = 0;
  for (const auto &t : s.tiers) hits += t.hits;
  CHECK(hits + s.misses == reads.load() + 2 * kOps);
}

TEST_CASE("pin-less read hits from many threads are all counted, past the per-thread stripes") {
  constexpr std::size_t kThreads = 80, kReads = 2000;  // more threads than the 64 stripes
  Storage st(8, 4096);
  BufferPool pool(st.options(8, 0));
  for (std::uint64_t id = 0; id < 8; ++id) pool.pin(id);
  std::uint64_t before = pool.stats().tiers[0].hits;
  std::vector<std::thread> threads;
  for (std::size_t t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::byte b[8];
      for (std::size_t i = 0; i < kReads; ++i) pool.read((t + i) % 8, 0, b);
    });
  for (auto &t : threads) t.join();
  CHECK(pool.stats().tiers[0].hits - before == kThreads * kReads);
  CHECK(pool.stats().misses == 8);
}

// Threads pin random pages of a data set larger than the pool while others rewrite pages:
// every page read must be whole and hold the latest version written (demotion, promotion
// and eviction move pages under the readers).
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include <doctest/doctest.h>

#include "bufferpool/storage.hpp"
#include "tiermem/bufferpool.hpp"

using tiermem::BufferPool;
using tiermem::test::make_page;
using tiermem::test::page_version;
using tiermem::test::Storage;

TEST_CASE("pages keep their content while threads pin, rewrite, demote, promote and evict") {
  constexpr std::size_t kPages = 160, kThreads = 4, kOps = 20000;
  Storage st(kPages, 4096);
  BufferPool pool(st.options(16, 48));
  // The database's content latch per page and the version it last wrote.
  struct Latch {
    std::mutex mu;
    std::uint64_t version = 0;
  };
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
  pool.flush();
  for (std::size_t id = 0; id < kPages; ++id)
    CHECK(page_version(st.pages[id], id) == static_cast<std::int64_t>(latches[id].version));
  BufferPool::Stats s = pool.stats();
  CHECK(s.demotions > 0);
  CHECK(s.promotions > 0);
  CHECK(s.evictions > 0);
  CHECK(s.writebacks > 0);
  CHECK(s.retired == 0);
  MESSAGE("hits fast=" << s.tiers[0].hits << " slow=" << s.tiers[1].hits << " misses=" << s.misses
                       << " promotions=" << s.promotions << " demotions=" << s.demotions
                       << " evictions=" << s.evictions << " writebacks=" << s.writebacks);
}

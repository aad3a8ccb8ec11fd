// RocksDB's block cache on a tier: blocks land on the tier, a real database reads back the same
// values through it, and the cache's usage shows in the tier's statistics.
#include <doctest/doctest.h>
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tiermem/rocksdb.hpp"

namespace {

constexpr int kKeys = 20000;

std::string key_of(int i) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "key%08d", i);
  return buf;
}

// ~100 bytes a value, different for every key, so a block mix-up changes what is read.
std::string value_of(int i) {
  std::string v;
  unsigned x = static_cast<unsigned>(i) * 2654435761u;
  while (v.size() < 100) {
    v += std::to_string(x);
    x = x * 1103515245u + 12345u;
  }
  return v;
}

// A database on disk in a temporary directory, removed at the end of the test.
struct TempDb {
  std::filesystem::path dir;
  TempDb() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tm-rocksdb-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    dir = tmpl;
    rocksdb::Options o;
    o.create_if_missing = true;
    rocksdb::DB *raw = nullptr;
    REQUIRE(rocksdb::DB::Open(o, dir.string(), &raw).ok());
    std::unique_ptr<rocksdb::DB> db(raw);
    rocksdb::WriteOptions w;
    w.disableWAL = true;
    for (int i = 0; i < kKeys; ++i) REQUIRE(db->Put(w, key_of(i), value_of(i)).ok());
    REQUIRE(db->Flush(rocksdb::FlushOptions()).ok());
  }
  ~TempDb() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  // Opens the database read-only with `cache` as its block cache (nullptr: RocksDB's default).
  std::unique_ptr<rocksdb::DB> open(std::shared_ptr<rocksdb::Cache> cache) const {
    rocksdb::BlockBasedTableOptions table;
    if (cache) table.block_cache = std::move(cache);
    rocksdb::Options o;
    o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    rocksdb::DB *raw = nullptr;
    rocksdb::Status s = rocksdb::DB::OpenForReadOnly(o, dir.string(), &raw);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    return std::unique_ptr<rocksdb::DB>(raw);
  }
};

std::vector<std::string> read_all(rocksdb::DB &db) {
  std::vector<std::string> out(kKeys);
  for (int i = 0; i < kKeys; ++i) {
    rocksdb::Status s = db.Get(rocksdb::ReadOptions(), key_of(i), &out[i]);
    if (!s.ok()) FAIL(key_of(i) << ": " << s.ToString());
  }
  return out;
}

}  // namespace

TEST_CASE("the RocksDB allocator's blocks lie on its tier and are counted until freed") {
  tiermem::RocksDBAllocator a("emulated:slow");
  CHECK(std::string(a.Name()) == "TiermemAllocator");
  tiermem::TierHandle slow = tiermem::TierHandle::find("emulated:slow");
  CHECK(a.tier() == slow);
  std::vector<void *> blocks;
  std::uint64_t usable = 0;
  for (std::size_t n : {1ul, 100ul, 4096ul, 4097ul, 65536ul, 1ul << 20}) {
    void *p = a.Allocate(n);
    REQUIRE(p != nullptr);
    CHECK(tm_tier_of(p) == slow.get());
    CHECK(a.UsableSize(p, n) >= n);
    usable += a.UsableSize(p, n);
    blocks.push_back(p);
  }
  CHECK(a.live_blocks() == blocks.size());
  CHECK(a.live_bytes() == usable);
  for (void *p : blocks) a.Deallocate(p);
  CHECK(a.live_blocks() == 0);
  CHECK(a.live_bytes() == 0);
}

TEST_CASE("a RocksDB allocator larger than its tier throws bad_alloc, as operator new would") {
  tiermem::RocksDBAllocator a("emulated:fast");  // 64 MiB
  CHECK_THROWS_AS(a.Allocate(std::size_t{1} << 30), std::bad_alloc);
  CHECK(a.live_blocks() == 0);
}

TEST_CASE("a RocksDB block cache on a tier spec that names no tier is refused, naming the spec") {
  for (const char *spec : {"rank:99", "emulated:nosuch", "bogus", ""}) {
    CAPTURE(std::string(spec));
    try {
      auto cache = tiermem::new_lru_block_cache(spec, 1 << 20);
      FAIL("accepted");
    } catch (const tiermem::Error &e) {
      MESSAGE(std::string(e.what()));
      CHECK(e.code() < 0);
      CHECK(std::string(e.what()).find("RocksDB block cache tier '" + std::string(spec) + "'") !=
            std::string::npos);
    }
  }
}

TEST_CASE("a real database reads the same values through a tiered block cache as without one") {
  TempDb db;
  std::vector<std::string> plain = read_all(*db.open(nullptr));
  auto cache = tiermem::new_lru_block_cache("emulated:slow", 64 << 20);
  auto tiered_db = db.open(cache);
  std::vector<std::string> tiered = read_all(*tiered_db);
  std::vector<std::string> again = read_all(*tiered_db);  // now from the cache
  for (int i = 0; i < kKeys; ++i) {
    REQUIRE(plain[i] == value_of(i));
    REQUIRE(tiered[i] == plain[i]);
    REQUIRE(again[i] == plain[i]);
  }
  CHECK(cache->GetUsage() > 0);
}

TEST_CASE("threads reading through a small tiered block cache get the right values") {
  TempDb db;
  // 256 KiB: blocks are evicted and read again all the time, so Allocate and Deallocate run
  // concurrently from every thread.
  auto alloc = std::make_shared<tiermem::RocksDBAllocator>("emulated:slow");
  rocksdb::LRUCacheOptions opts;
  opts.capacity = 256 << 10;
  opts.num_shard_bits = 0;
  opts.memory_allocator = alloc;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(opts);
  auto tiered_db = db.open(cache);
  constexpr int kThreads = 4;
  std::vector<int> wrong(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::string v;
      for (int n = 0; n < kKeys; ++n) {
        int i = (n * 7919 + t * 5003) % kKeys;  // each thread in its own order
        if (!tiered_db->Get(rocksdb::ReadOptions(), key_of(i), &v).ok() || v != value_of(i))
          ++wrong[t];
      }
    });
  for (auto &th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) CHECK(wrong[t] == 0);
  tiered_db.reset();
  CHECK(alloc->live_blocks() > 0);
  CHECK(alloc->live_bytes() <= cache->GetUsage());
  CHECK(cache->GetUsage() <= opts.capacity);
  cache.reset();  // the last owner: every block goes back to the tier
  CHECK(alloc->live_blocks() == 0);
}

TEST_CASE("the block cache's usage shows in its tier's allocated bytes") {
  TempDb db;
  tiermem::TierHandle slow = tiermem::TierHandle::find("emulated:slow");
  std::uint64_t before = slow.stats().allocated;
  auto alloc = std::make_shared<tiermem::RocksDBAllocator>(slow);
  rocksdb::LRUCacheOptions opts;
  opts.capacity = 64 << 20;
  opts.memory_allocator = alloc;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(opts);
  {
    auto tiered_db = db.open(cache);
    read_all(*tiered_db);
  }
  // The database is closed: what remains on the tier is what the cache holds.
  std::size_t usage = cache->GetUsage();
  std::uint64_t on_tier = slow.stats().allocated - before;
  MESSAGE("cache usage " << usage << " B, allocator live " << alloc->live_bytes()
                         << " B in " << alloc->live_blocks() << " blocks, tier +" << on_tier << " B");
  REQUIRE(alloc->live_blocks() > 0);
  // The cache charges each entry's usable block size plus its handle, so the block bytes are
  // most of the usage and never more than it; the tier holds at least those bytes.
  CHECK(alloc->live_bytes() <= usage);
  CHECK(alloc->live_bytes() * 10 >= usage * 8);
  CHECK(on_tier >= alloc->live_bytes());
  // ... and little else: at most what threads keep cached of freed blocks (well under 1 MiB).
  CHECK(on_tier <= usage + (1u << 20));
  // Emptying the cache gives every block back to the tier.
  cache->EraseUnRefEntries();
  CHECK(alloc->live_blocks() == 0);
  CHECK(alloc->live_bytes() == 0);
  CHECK(slow.stats().allocated < before + on_tier);
}

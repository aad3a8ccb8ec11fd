// RocksDB with its block cache on a tier: writes a database of 100,000 keys, reopens it with a
// 64 MiB LRU block cache whose blocks tiermem places on the tier named on the command line,
// reads every key back, and shows the tier holding the cache's bytes.
//   TIERMEM_EMULATE=slow:1G ./example_rocksdb_tiered [TIER-SPEC] (default emulated:slow)
#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "tiermem/rocksdb.hpp"

namespace {

constexpr int kKeys = 100000;

std::string key(int i) { return "user" + std::to_string(1000000 + i); }
std::string value(int i) { return "profile of user " + std::to_string(i) + std::string(80, 'a' + i % 26); }

bool check(const rocksdb::Status &s, const char *what) {
  if (!s.ok()) std::fprintf(stderr, "rocksdb: %s: %s\n", what, s.ToString().c_str());
  return s.ok();
}

int run(const std::string &dir, const char *spec) {
  // tiermem::new_lru_block_cache(spec, capacity) does the same in one call.
  std::shared_ptr<tiermem::RocksDBAllocator> alloc;
  try {
    alloc = std::make_shared<tiermem::RocksDBAllocator>(spec);
  } catch (const tiermem::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  rocksdb::LRUCacheOptions cache_options;
  cache_options.capacity = 64u << 20;
  cache_options.memory_allocator = alloc;
  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(cache_options);
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::BlockBasedTableOptions table;
  table.block_cache = cache;
  options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  rocksdb::DB *raw = nullptr;
  if (!check(rocksdb::DB::Open(options, dir, &raw), "open")) return 1;
  std::unique_ptr<rocksdb::DB> db(raw);
  for (int i = 0; i < kKeys; ++i)
    if (!check(db->Put(rocksdb::WriteOptions(), key(i), value(i)), "put")) return 1;
  // On disk in SST files, so that reads go through the block cache, not the memtable.
  if (!check(db->Flush(rocksdb::FlushOptions()), "flush")) return 1;

  int wrong = 0;
  std::string v;
  for (int pass = 0; pass < 2; ++pass)  // the first pass fills the cache, the second hits it
    for (int i = 0; i < kKeys; ++i)
      if (!check(db->Get(rocksdb::ReadOptions(), key(i), &v), "get") || v != value(i)) ++wrong;
  std::printf("read %d keys twice: %d wrong values\n", kKeys, wrong);

  tm_tier_stats s = alloc->tier().stats();
  std::printf("block cache: %zu bytes in use, %llu bytes in %llu blocks from tier %s\n",
              cache->GetUsage(), static_cast<unsigned long long>(alloc->live_bytes()),
              static_cast<unsigned long long>(alloc->live_blocks()), s.name);
  std::printf("tier %s (%s): %llu bytes allocated of %llu\n", s.name, s.backend,
              static_cast<unsigned long long>(s.allocated),
              static_cast<unsigned long long>(s.capacity));
  db.reset();
  bool on_tier = alloc->live_blocks() > 0 && s.allocated >= alloc->live_bytes();
  return wrong == 0 && on_tier ? 0 : 1;
}

}  // namespace

int main(int argc, char **argv) {
  const char *spec = argc > 1 ? argv[1] : "emulated:slow";
  std::string dir = (std::filesystem::temp_directory_path() / "tm-rocksdb-XXXXXX").string();
  if (::mkdtemp(dir.data()) == nullptr) {
    std::perror("mkdtemp");
    return 1;
  }
  int rc = run(dir, spec);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return rc;
}

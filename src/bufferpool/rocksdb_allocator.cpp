// RocksDB's block cache on a tier (tiermem/rocksdb.hpp). The heap's lookup by address makes
// Deallocate and UsableSize lock-free; the two counters are relaxed atomics, cheap beside the
// block read or decompression that precedes every Allocate.
#include "tiermem/rocksdb.hpp"

#include <new>
#include <string>

namespace tiermem {

namespace {

TierHandle open_tier(std::string_view spec) {
  try {
    return TierHandle::find(spec);
  } catch (const Error &e) {
    std::string_view why = e.what();
    if (why.starts_with("tiermem: ")) why.remove_prefix(9);  // one "tiermem:" a line
    throw Error(e.code(), "tiermem: RocksDB block cache tier '" + std::string(spec) + "': " +
                              std::string(why));
  }
}

}  // namespace

RocksDBAllocator::RocksDBAllocator(std::string_view tier_spec) : tier_(open_tier(tier_spec)) {}

void *RocksDBAllocator::Allocate(std::size_t size) {
  void *p = tm_malloc(tier_.get(), size);
  if (p == nullptr) throw std::bad_alloc();
  blocks_.fetch_add(1, std::memory_order_relaxed);
  bytes_.fetch_add(tm_usable_size(p), std::memory_order_relaxed);
  return p;
}

void RocksDBAllocator::Deallocate(void *p) {
  if (p == nullptr) return;
  blocks_.fetch_sub(1, std::memory_order_relaxed);
  bytes_.fetch_sub(tm_usable_size(p), std::memory_order_relaxed);
  tm_free(p);
}

std::size_t RocksDBAllocator::UsableSize(void *p, std::size_t allocation_size) const {
  return p != nullptr ? tm_usable_size(p) : allocation_size;
}

std::shared_ptr<::rocksdb::Cache> new_lru_block_cache(std::string_view tier_spec,
                                                      std::size_t capacity) {
  ::rocksdb::LRUCacheOptions opts;
  opts.capacity = capacity;
  opts.memory_allocator = std::make_shared<RocksDBAllocator>(tier_spec);
  return ::rocksdb::NewLRUCache(opts);
}

}  // namespace tiermem

/**
 * @file rocksdb.hpp
 * @brief RocksDB's block cache on a tier: a `rocksdb::MemoryAllocator` over tiermem's heap.
 *
 * RocksDB allocates the contents of every block it keeps in a block cache through the cache's
 * memory allocator (`LRUCacheOptions::memory_allocator`). Handing it a tiermem::RocksDBAllocator
 * puts those blocks — the bulk of a block cache — on the tier a spec names; the cache's
 * bookkeeping (handles, hash table) stays on the ordinary heap.
 *
 * @code
 *   #include <tiermem/rocksdb.hpp>
 *   rocksdb::BlockBasedTableOptions table;
 *   table.block_cache = tiermem::new_lru_block_cache("emulated:slow", 256 << 20);
 *   options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
 * @endcode
 *
 * Link the static library `tiermem_rocksdb` (CMake target `tiermem::tiermem_rocksdb` in the
 * build tree; installed as libtiermem_rocksdb.a, used with libtiermem.a and -lrocksdb). It is
 * built when RocksDB's CMake package is found, over `tiermem_static` like the buffer pool: one
 * tiermem heap per process.
 *
 * Errors: constructing with a spec that names no usable tier throws tiermem::Error (the code and
 * one-line message of tm_tier_find(), prefixed with what was being set up). Allocate() throws
 * std::bad_alloc when the tier is full, as RocksDB's default allocator (`new char[]`) does: size
 * the tier above the cache's capacity plus the blocks pinned by open iterators.
 */
#pragma once
#include <rocksdb/cache.h>
#include <rocksdb/memory_allocator.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "tiermem/heap.hpp"

namespace tiermem {

/** A thread-safe `rocksdb::MemoryAllocator` that places every block on one tier. */
class RocksDBAllocator final : public ::rocksdb::MemoryAllocator {
 public:
  /** The name RocksDB reports for this allocator (Name(), options dumps in the LOG file). */
  static const char *kClassName() { return "TiermemAllocator"; }

  /**
   * Opens the tier `tier_spec` names ("rank:1", "kind:cxl-dram", "node:2", "dax:dax0.0",
   * "emulated:slow"; see tiermem-policy(7)). Throws tiermem::Error when it names none.
   */
  explicit RocksDBAllocator(std::string_view tier_spec);
  /** On a tier already opened. */
  explicit RocksDBAllocator(TierHandle tier) noexcept : tier_(tier) {}

  const char *Name() const override { return kClassName(); }
  /** `size` bytes on the tier; throws std::bad_alloc when the tier cannot serve them. */
  void *Allocate(std::size_t size) override;
  /** Frees a block Allocate() returned. */
  void Deallocate(void *p) override;
  /** The block's real size (tm_usable_size), so the cache charges what the tier gave. */
  std::size_t UsableSize(void *p, std::size_t allocation_size) const override;

  /** The tier every block lies on. */
  TierHandle tier() const noexcept { return tier_; }
  /** Blocks handed out and not yet freed. */
  std::uint64_t live_blocks() const noexcept { return blocks_.load(std::memory_order_relaxed); }
  /** The usable bytes of those blocks: the share of the tier's `allocated` this allocator holds. */
  std::uint64_t live_bytes() const noexcept { return bytes_.load(std::memory_order_relaxed); }

 private:
  TierHandle tier_;
  std::atomic<std::uint64_t> blocks_{0};
  std::atomic<std::uint64_t> bytes_{0};
};

/**
 * An LRU block cache of `capacity` bytes whose blocks lie on the tier `tier_spec` names:
 * `rocksdb::NewLRUCache` with `LRUCacheOptions::memory_allocator` set to a RocksDBAllocator
 * and otherwise RocksDB's defaults. Throws tiermem::Error for a spec that names no tier.
 */
std::shared_ptr<::rocksdb::Cache> new_lru_block_cache(std::string_view tier_spec,
                                                      std::size_t capacity);

}  // namespace tiermem

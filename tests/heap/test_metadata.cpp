// jemalloc's own metadata (its per-arena "base") lives in DRAM, not on the tier: a memory
// error on a tier can then only hit user blocks or free memory.
#include <cerrno>
#include <cstdint>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "backend/backend.hpp"
#include "heap/extent_map.hpp"
#include "heap/heap.hpp"
#include "heap/jemalloc.hpp"
#include "heap/slots.hpp"
#include "tiermem/error.hpp"
#include "tiermem/tiermem.h"

namespace {

std::size_t arena_base_bytes(unsigned arena) {
  std::uint64_t epoch = 1;
  std::size_t sz = sizeof epoch;
  REQUIRE(tmje_mallctl("epoch", &epoch, &sz, &epoch, sz) == 0);
  std::size_t base = 0;
  sz = sizeof base;
  const std::string name = "stats.arenas." + std::to_string(arena) + ".base";
  REQUIRE(tmje_mallctl(name.c_str(), &base, &sz, nullptr, 0) == 0);
  return base;
}

// Many blocks of many sizes: every slab and every large block is an extent with its own
// edata_t from the arena's base, so tens of thousands of small large blocks (16 KiB: never
// touched, so they cost address space, not memory) grow the base past its first 2 MiB.
std::vector<void *> fill(tm_tier *t, std::size_t count) {
  std::vector<void *> blocks;
  for (unsigned i = 0; i < count; ++i) {
    std::size_t n = i % 8 != 0 ? 16384 + (i % 3) * 4096 : 8 + (i % 400) * 24;
    void *p = tm_malloc(t, n);
    REQUIRE(p != nullptr);
    blocks.push_back(p);
  }
  return blocks;
}

void check_metadata_off_tier(const char *spec, std::size_t count) {
  tm_tier *t = tm_tier_find(spec);
  INFO(spec << ": " << tm_last_error());
  REQUIRE(t != nullptr);
  std::vector<void *> blocks = fill(t, count);
  const tiermem::heap::ExtentMap &map = *t->extents;
  const std::size_t base = arena_base_bytes(t->arena);
  const auto lo = reinterpret_cast<std::uintptr_t>(tiermem::heap::slot_address(t->slot));
  const auto hi = lo + tiermem::heap::slot_size();
  MESSAGE(std::string(spec) << ": jemalloc base " << base << " bytes in " << map.meta_count()
               << " DRAM mappings of " << map.meta_bytes() << " bytes, " << blocks.size()
               << " blocks, tier mapped " << t->backend->mapped());
  CHECK(map.meta_count() >= 3);  // the base grew twice beyond its first block
  CHECK(base <= map.meta_bytes());
  for (std::size_t i = 0; i < map.meta_count(); ++i) {
    auto [s, e] = map.meta(i);
    CHECK((e <= lo || s >= hi));
  }
  // The backend carved only extents: the first one starts at the tier's first byte (the base
  // used to take the first 2 MiB; on devdax those are now user memory too, same carver), and
  // every carved byte is inside an extent the map knows.
  const auto first = reinterpret_cast<std::uintptr_t>(t->backend->base());
  std::uintptr_t s = 0, e = 0;
  REQUIRE(map.find(first, &s, &e));
  CHECK(s == first);
  for (std::uintptr_t a = first; a < first + t->backend->mapped(); a = e) {
    REQUIRE(map.find(a, &s, &e));
    REQUIRE(e > a);
  }
  for (void *p : blocks) tm_free(p);
}

}  // namespace

TEST_CASE("an emulated tier's jemalloc metadata lives in DRAM, outside the tier's slot") {
  check_metadata_off_tier("emulated:meta", 72000);
}

TEST_CASE("a node tier's jemalloc metadata lives in DRAM, outside the tier's slot") {
  check_metadata_off_tier("rank:0", 72000);
}

TEST_CASE("a heap table that cannot be mapped is refused naming the table, its size and ulimit -v") {
  // The tier's page classes and the extent map are mapped by one function; no machine maps
  // 2^62 bytes, so it fails as a small `ulimit -v` makes the real sizes fail.
  const std::size_t huge = std::size_t{1} << 62;
  const std::string want = "tiermem: cannot map the page classes of tier 'slow' (" + std::to_string(huge) +
                           " bytes): Cannot allocate memory; check `ulimit -v`";
  try {
    tiermem::heap::map_table("the page classes of tier 'slow'", huge);
    FAIL("a mapping of 2^62 bytes succeeded");
  } catch (const tiermem::Error &e) {
    CHECK(std::string(e.what()) == want);
    CHECK(e.code() == -ENOMEM);
  }
  CHECK(tiermem::heap::map_table("a table", 4096).addr() != nullptr);
}

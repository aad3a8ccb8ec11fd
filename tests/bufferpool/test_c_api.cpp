// The C ABI: codes and tm_last_error() instead of exceptions.
#include <cerrno>
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "bufferpool/storage.hpp"
#include "tiermem/bufferpool.h"

using tiermem::test::make_page;
using tiermem::test::page_version;
using tiermem::test::Storage;

namespace {
int c_read(uint64_t id, void *page, size_t size, void *user) {
  return static_cast<Storage *>(user)->read(id, {static_cast<std::byte *>(page), size});
}
int c_write(uint64_t id, const void *page, size_t size, void *user) {
  return static_cast<Storage *>(user)->write(id, {static_cast<const std::byte *>(page), size});
}
}  // namespace

TEST_CASE("the C API pins, unpins, counts and writes back through callbacks") {
  Storage st(8, 8192);
  tm_bufferpool_tier tiers[] = {{"emulated:fast", 2 * 8192}, {"emulated:slow", 2 * 8192}};
  tm_bufferpool_config cfg{};
  cfg.page_size = 8192;
  cfg.tiers = tiers;
  cfg.ntiers = 2;
  cfg.read = c_read;
  cfg.write = c_write;
  cfg.user = &st;
  tm_bufferpool *pool = nullptr;
  REQUIRE(tm_bufferpool_create(&cfg, &pool) == 0);
  void *data = nullptr;
  REQUIRE(tm_bufferpool_pin(pool, 3, &data) == 0);
  CHECK(page_version({static_cast<std::byte *>(data), 8192}, 3) == 0);
  make_page({static_cast<std::byte *>(data), 8192}, 3, 2);
  CHECK(tm_bufferpool_unpin(pool, 3, 1) == 0);
  CHECK(tm_bufferpool_unpin(pool, 3, 0) == -EINVAL);
  CHECK(std::string(tm_last_error()).find("page 3 is not pinned") != std::string::npos);
  std::byte page[8192];
  CHECK(tm_bufferpool_read(pool, 3, 0, page, sizeof page) == 0);  // a hit without a pin
  CHECK(page_version(page, 3) == 2);
  CHECK(tm_bufferpool_read(pool, 3, 8000, page, 500) == -EINVAL);
  CHECK(std::string(tm_last_error()).find("500 bytes at offset 8000 of page 3") !=
        std::string::npos);
  CHECK(tm_bufferpool_read(pool, 3, 0, nullptr, 8) == -EINVAL);
  CHECK(tm_bufferpool_flush(pool) == 0);
  CHECK(page_version(st.pages[3], 3) == 2);
  tm_bufferpool_stats s{};
  CHECK(tm_bufferpool_stats_get(pool, &s) == 0);
  CHECK(s.ntiers == 2);
  CHECK(s.misses == 1);
  CHECK(s.hits[0] == 1);
  CHECK(s.writebacks == 1);
  CHECK(s.frames[0] == 2);
  CHECK(s.used[0] == 1);
  tm_bufferpool_destroy(pool);
}

TEST_CASE("the C API rejects a bad configuration with a code and a message") {
  Storage st(8, 4096);
  tm_bufferpool_tier tiers[] = {{"emulated:fast", 4096}};
  tm_bufferpool_config cfg{};
  cfg.page_size = 3000;
  cfg.tiers = tiers;
  cfg.ntiers = 1;
  cfg.read = c_read;
  cfg.user = &st;
  tm_bufferpool *pool = nullptr;
  CHECK(tm_bufferpool_create(&cfg, &pool) == -EINVAL);
  CHECK(std::string(tm_last_error()).find("page size 3000") != std::string::npos);
  CHECK(pool == nullptr);
  cfg.page_size = 4096;
  cfg.read = nullptr;
  CHECK(tm_bufferpool_create(&cfg, &pool) == -EINVAL);
  cfg.read = c_read;
  cfg.ntiers = 0;
  CHECK(tm_bufferpool_create(&cfg, &pool) == -EINVAL);
  CHECK(tm_bufferpool_create(nullptr, &pool) == -EINVAL);
  CHECK(tm_bufferpool_pin(nullptr, 1, nullptr) == -EINVAL);
  tm_bufferpool_destroy(nullptr);
}

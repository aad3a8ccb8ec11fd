#include <doctest/doctest.h>

#include <memory>
#include <thread>
#include <vector>

#include "safety/poison_registry.hpp"

using tiermem::safety::PoisonRange;
using tiermem::safety::PoisonRegistry;

TEST_CASE("the registry records a poisoned unit at the granularity the kernel reported") {
  auto reg = std::make_unique<PoisonRegistry>();
  CHECK(reg->record(0x7f0000201234, 12, 4));
  CHECK(reg->size() == 1);
  PoisonRange r;
  REQUIRE(reg->get(0, &r));
  CHECK(r.start == 0x7f0000201000);
  CHECK(r.length == 4096);
  CHECK(r.lsb == 12);
  CHECK(r.rank == 4);
  CHECK(reg->contains(0x7f0000201000, 1));
  CHECK(reg->contains(0x7f0000201fff, 1));
  CHECK(reg->contains(0x7f0000200000, 0x1001));
  CHECK_FALSE(reg->contains(0x7f0000200000, 0x1000));
  CHECK_FALSE(reg->contains(0x7f0000202000, 100));
  CHECK_FALSE(reg->contains(0x7f0000201000, 0));
}

TEST_CASE("the registry keeps a unit once, and a 2 MiB unit covers the pages in it") {
  auto reg = std::make_unique<PoisonRegistry>();
  CHECK(reg->record(0x40000000 + 0x123456, 21, 1));
  CHECK_FALSE(reg->record(0x40000000 + 0x1fffff, 21, 1));
  CHECK_FALSE(reg->record(0x40000000 + 0x5000, 12, 1));  // inside the known 2 MiB unit
  CHECK(reg->size() == 1);
  CHECK(reg->contains(0x40000000, 1));
  CHECK_FALSE(reg->contains(0x40200000, 1));
}

TEST_CASE("a poison report without an address granularity counts as one page") {
  auto reg = std::make_unique<PoisonRegistry>();
  CHECK(reg->record(0x10000123, 0, -1));
  PoisonRange r;
  REQUIRE(reg->get(0, &r));
  CHECK(r.start == 0x10000000);
  CHECK(r.length == 4096);
}

TEST_CASE("a full registry drops new ranges and counts them") {
  auto reg = std::make_unique<PoisonRegistry>();
  for (std::size_t i = 0; i < PoisonRegistry::capacity; ++i) CHECK(reg->record(i << 12, 12, 0));
  CHECK_FALSE(reg->record(std::uintptr_t{1} << 40, 12, 0));
  CHECK(reg->size() == PoisonRegistry::capacity);
  CHECK(reg->dropped() == 1);
  CHECK(reg->contains((PoisonRegistry::capacity - 1) << 12, 1));
}

TEST_CASE("threads recording different units concurrently lose none") {
  auto reg = std::make_unique<PoisonRegistry>();
  std::vector<std::thread> threads;
  for (std::uintptr_t t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (std::uintptr_t i = 0; i < 200; ++i) reg->record(((t * 1000 + i) << 12) + 7, 12, 0);
    });
  }
  for (auto &th : threads) th.join();
  CHECK(reg->size() == 800);
  for (std::uintptr_t t = 0; t < 4; ++t) {
    for (std::uintptr_t i = 0; i < 200; ++i) CHECK(reg->contains((t * 1000 + i) << 12, 1));
  }
}

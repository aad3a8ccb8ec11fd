// The buffer pool's page table: inserts and backward-shift erases keep every other entry
// findable, including in long collision clusters and across the table's wrap-around.
#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include <doctest/doctest.h>

#include "bufferpool/page_table.hpp"

using tiermem::bufferpool_detail::PageTable;

namespace {

struct Item {
  int n;
};

}  // namespace

TEST_CASE("the page table finds what was inserted and forgets what was erased") {
  std::vector<Item> items(64);
  PageTable<Item> t(64);
  for (int i = 0; i < 64; ++i) t.insert(static_cast<std::uint64_t>(i) * 1000, &items[i]);
  for (int i = 0; i < 64; ++i) CHECK(t.find(static_cast<std::uint64_t>(i) * 1000) == &items[i]);
  CHECK(t.find(7) == nullptr);
  for (int i = 0; i < 64; i += 2) t.erase(static_cast<std::uint64_t>(i) * 1000);
  for (int i = 0; i < 64; ++i)
    CHECK(t.find(static_cast<std::uint64_t>(i) * 1000) == (i % 2 ? &items[i] : nullptr));
  t.erase(7);  // absent: no effect
  CHECK(t.find(1000) == &items[1]);
}

TEST_CASE("the page table agrees with a std::unordered_map through random inserts and erases") {
  // Full to its load factor, so clusters are long and wrap around the end of the slots.
  constexpr std::size_t kEntries = 512;
  std::vector<Item> items(kEntries);
  PageTable<Item> t(kEntries);
  std::unordered_map<std::uint64_t, Item *> ref;
  std::vector<Item *> spare;
  for (auto &it : items) spare.push_back(&it);
  std::mt19937_64 rng(42);
  for (int op = 0; op < 200000; ++op) {
    std::uint64_t id = rng() % 2048;
    auto found = ref.find(id);
    if (found != ref.end()) {
      t.erase(id);
      spare.push_back(found->second);
      ref.erase(found);
    } else if (!spare.empty()) {
      t.insert(id, spare.back());
      ref.emplace(id, spare.back());
      spare.pop_back();
    }
    if (op % 997 == 0)
      for (std::uint64_t k = 0; k < 2048; ++k) {
        auto r = ref.find(k);
        REQUIRE(t.find(k) == (r == ref.end() ? nullptr : r->second));
      }
  }
}

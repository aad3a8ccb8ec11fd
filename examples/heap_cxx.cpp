// heap_cxx: the C++ face of the heap — a tier handle, STL and pmr containers on a tier,
// unique_ptr helpers, and a policy object.
//
//   TIERMEM_EMULATE=slow:1G ./example_heap_cxx
#include <cstdio>
#include <memory_resource>
#include <numeric>
#include <string>
#include <vector>

#include "tiermem/heap.hpp"

int main() try {
  tiermem::TierHandle slow = tiermem::TierHandle::find("emulated:slow");

  // An STL container whose elements live on the tier.
  std::vector<double, tiermem::TierAllocator<double>> samples{
      tiermem::TierAllocator<double>(slow)};
  for (int i = 0; i < 1'000'000; ++i) samples.push_back(i * 0.5);
  double sum = std::accumulate(samples.begin(), samples.end(), 0.0);

  // A pmr container on the same tier.
  tiermem::TierResource resource(slow);
  std::pmr::vector<std::pmr::string> names(&resource);
  names.emplace_back("a string long enough to need its own block on the tier");

  // One object, constructed on the tier and freed there by its deleter.
  struct Table {
    long rows[1024];
  };
  auto table = tiermem::make_unique_on<Table>(slow);
  table->rows[0] = 42;
  auto zeroed = tiermem::make_unique_on<int[]>(slow, 4096);

  // A policy: small blocks on the fastest tier, large ones on the slow tier.
  tiermem::Policy policy("threshold(64K, rank:0, emulated:slow)");
  void *big = policy.allocate(1 << 20);
  std::printf("sum %.1f, vector on %s, table on %s, 1 MiB block on %s (%s)\n", sum,
              tiermem::TierHandle::of(samples.data()).name().c_str(),
              tiermem::TierHandle::of(table.get()).name().c_str(),
              tiermem::TierHandle::of(big).name().c_str(), policy.text().c_str());
  tiermem::TierHandle::deallocate(big);
  tm_tier_stats s = slow.stats();
  std::printf("%s: allocated %llu bytes, peak %llu\n", s.name,
              static_cast<unsigned long long>(s.allocated), static_cast<unsigned long long>(s.peak));
  return zeroed[4095] == 0 && names.size() == 1 ? 0 : 1;
} catch (const std::exception &e) {
  std::fprintf(stderr, "%s\n", e.what());
  return 1;
}

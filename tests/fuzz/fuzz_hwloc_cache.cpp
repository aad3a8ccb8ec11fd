// The per-boot hwloc cache file (topology/hwloc_cache.cpp), which any process of the user may
// have written: every text is taken or not used, never a crash; only numbers the cache could
// have written are taken; what is taken writes back to a file that reads back the same.
#include <nlohmann/json.hpp>

#include "fuzz.hpp"
#include "topology/hwloc_cache.hpp"

namespace {

bool same(const tiermem::topology::HwlocNode &a, const tiermem::topology::HwlocNode &b) {
  return a.os_index == b.os_index && a.subtype == b.subtype &&
         a.capacity_bytes == b.capacity_bytes && a.has_cpus_guess == b.has_cpus_guess &&
         a.bandwidth_mbps == b.bandwidth_mbps && a.latency_ns == b.latency_ns;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem::topology;
  // The seeds' key: the real one is long and names this boot; its comparison is the same.
  const std::string_view key = "k";
  const auto nodes = parse_hwloc_cache(fuzz::text(data, size), key);
  if (!nodes) return 0;
  // Only numbers the cache could have written are taken: no float, no negative number.
  const auto doc = nlohmann::json::parse(fuzz::text(data, size));
  for (const auto &n : doc.at("nodes"))
    for (const char *field : {"os_index", "capacity_bytes", "bandwidth_mbps", "latency_ns"})
      FUZZ_CHECK(n.at(field).is_null() || n.at(field).is_number_unsigned());
  const auto again = parse_hwloc_cache(format_hwloc_cache(key, *nodes), key);
  FUZZ_CHECK(again && again->size() == nodes->size());
  for (std::size_t i = 0; i < nodes->size(); ++i) FUZZ_CHECK(same((*again)[i], (*nodes)[i]));
  return 0;
}

// The `tiermem: stats {...}` lines that processes under the preload library print at exit
// (TIERMEM_STATS=1, `tiermem run --stats`), parsed: one JSON document a line.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tiermem::test {

inline std::vector<nlohmann::json> stats_lines(const std::string &err) {
  static const std::string kPrefix = "tiermem: stats ";
  std::vector<nlohmann::json> out;
  std::size_t at = 0;
  while ((at = err.find(kPrefix, at)) != std::string::npos) {
    std::size_t end = err.find('\n', at);
    out.push_back(nlohmann::json::parse(err.substr(at + kPrefix.size(), end - at - kPrefix.size())));
    at = end;
  }
  return out;
}

/** The highest peak any tier of the line reports. */
inline std::uint64_t max_peak(const nlohmann::json &line) {
  std::uint64_t peak = 0;
  for (const auto &t : line.at("tiers")) peak = std::max(peak, t.at("peak").get<std::uint64_t>());
  return peak;
}

}  // namespace tiermem::test

#include "platform/ranges.hpp"

#include <algorithm>

namespace tiermem::platform {

std::vector<ByteRange> merge_ranges(std::vector<ByteRange> ranges) {
  std::sort(ranges.begin(), ranges.end(),
            [](const ByteRange &a, const ByteRange &b) { return a.offset < b.offset; });
  std::vector<ByteRange> out;
  for (const auto &r : ranges) {
    if (r.length == 0) continue;
    if (!out.empty() && r.offset <= out.back().end()) {
      out.back().length = std::max(out.back().end(), r.end()) - out.back().offset;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

}  // namespace tiermem::platform

// Byte ranges (offset + length), the one shape in which known bad blocks, scrub results and
// the ranges a backend must never hand out travel between layers.
#pragma once
#include <cstdint>
#include <vector>

namespace tiermem::platform {

/** `length` bytes from `offset` (of a device, a mapping, or physical memory). */
struct ByteRange {
  std::uint64_t offset = 0;
  std::uint64_t length = 0;
  std::uint64_t end() const noexcept { return offset + length; }
};

/** Sorts and merges overlapping or touching ranges; drops empty ones. */
std::vector<ByteRange> merge_ranges(std::vector<ByteRange> ranges);

}  // namespace tiermem::platform

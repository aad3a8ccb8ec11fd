#include "safety/badblocks.hpp"

#include <algorithm>
#include <cerrno>
#include <charconv>

#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::safety {

namespace {

constexpr std::uint64_t kSector = 512;

[[noreturn]] void bad_line(const std::string &path, std::size_t line, std::string_view text,
                           const std::string &why) {
  throw Error(-EINVAL, "tiermem: " + path + ": line " + std::to_string(line) + " '" +
                           std::string(text) + "' " + why +
                           "; expected lines 'SECTOR COUNT' (the kernel's badblocks format)");
}

bool parse_dec(std::string_view s, std::uint64_t &v) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, 10);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::vector<BadSectors> parse_badblocks(std::string_view text, const std::string &path) {
  std::vector<BadSectors> out;
  const auto lines = platform::split(text, '\n');
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    const std::size_t lineno = i + 1;
    // The kernel ends every line with '\n': an empty piece is allowed only at the very end.
    if (line.empty()) {
      if (i + 1 == lines.size()) break;
      bad_line(path, lineno, line, "is empty");
    }
    auto w = platform::words(line);
    if (w.size() != 2) bad_line(path, lineno, line, "does not have two numbers");
    BadSectors b;
    if (!parse_dec(w[0], b.sector)) bad_line(path, lineno, line, "has a sector that is not a decimal number");
    if (!parse_dec(w[1], b.count)) bad_line(path, lineno, line, "has a count that is not a decimal number");
    if (b.count == 0) bad_line(path, lineno, line, "has a count of 0");
    if (b.sector > UINT64_MAX / kSector - b.count) bad_line(path, lineno, line, "runs past 2^64 bytes");
    out.push_back(b);
  }
  return out;
}

KnownBadBlocks known_bad_blocks(const std::string &name,
                                const std::vector<topology::DaxExtent> &extents,
                                const std::vector<topology::NdRegion> &regions) {
  KnownBadBlocks kb;
  kb.device = name;
  kb.has_region = !regions.empty();
  std::vector<BadRange> ranges;
  for (const topology::NdRegion &r : regions) {
    kb.sources.push_back(r.badblocks_file);
    for (const BadSectors &b : parse_badblocks(r.badblocks, r.badblocks_file)) {
      ++kb.region_entries;
      // Sectors past the region's end are none of its memory; clipping first also keeps
      // start + sectors from wrapping (a huge count otherwise lost the whole entry).
      if (b.sector >= r.size / kSector) continue;
      const std::uint64_t sectors = std::min(b.count, r.size / kSector - b.sector);
      const std::uint64_t lo = r.start + b.sector * kSector, hi = lo + sectors * kSector;
      for (const auto &x : extents) {
        const std::uint64_t a = std::max(lo, x.phys), z = std::min(hi, x.phys + x.length);
        if (a < z) ranges.push_back({x.offset + (a - x.phys), z - a});
      }
    }
  }
  kb.ranges = merge_ranges(std::move(ranges));
  return kb;
}

}  // namespace tiermem::safety

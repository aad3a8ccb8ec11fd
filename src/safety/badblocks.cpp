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

// Where the device's attributes live: the dax bus, or the older class layout.
std::string dax_dir(const platform::SysfsRoot &root, const std::string &name) {
  for (const char *base : {"sys/bus/dax/devices/", "sys/class/dax/"}) {
    std::string rel = base + name;
    if (root.is_dir(rel)) return rel;
  }
  return "";
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

std::vector<DaxExtent> dax_extents(const platform::SysfsRoot &root, const std::string &name) {
  const std::string dir = dax_dir(root, name);
  if (dir.empty())
    throw Error(-ENODEV, "tiermem: " + root.path("sys/bus/dax/devices/" + name) + " is missing; " +
                             name + " is not a dax device");
  std::vector<DaxExtent> out;
  // mappingN: physical [start, end] (inclusive), at device page `page_offset` (4 KiB pages).
  for (const std::string &e : root.list(dir)) {
    if (e.rfind("mapping", 0) != 0 || !root.is_dir(dir + "/" + e)) continue;
    const std::string m = dir + "/" + e;
    std::uint64_t start = root.read_u64(m + "/start");
    std::uint64_t end = root.read_u64(m + "/end");
    std::uint64_t pgoff = root.read_u64(m + "/page_offset");
    if (end < start)
      throw Error(-EINVAL, "tiermem: " + root.path(m) + ": end " + std::to_string(end) +
                               " is below start " + std::to_string(start) +
                               "; the sysfs tree is corrupt");
    out.push_back({start, pgoff * 4096, end - start + 1});
  }
  if (out.empty()) {
    std::uint64_t size = root.read_u64(dir + "/size");
    auto res = root.read_u64_optional(dir + "/resource");
    if (!res)
      throw Error(-ENOENT, "tiermem: " + root.path(dir + "/resource") +
                               " is missing; this kernel does not say where " + name +
                               " lives, so its bad blocks cannot be located");
    if (size > 0) out.push_back({*res, 0, size});
  }
  std::sort(out.begin(), out.end(),
            [](const DaxExtent &a, const DaxExtent &b) { return a.offset < b.offset; });
  return out;
}

KnownBadBlocks known_bad_blocks(const platform::SysfsRoot &root, const std::string &name) {
  KnownBadBlocks kb;
  kb.device = name;
  const auto extents = dax_extents(root, name);
  const std::string nd = "sys/bus/nd/devices/";
  std::vector<BadRange> ranges;
  for (const std::string &region : root.list(nd)) {
    if (region.rfind("region", 0) != 0) continue;
    auto start = root.read_u64_optional(nd + region + "/resource");
    auto size = root.read_u64_optional(nd + region + "/size");
    if (!start || !size || *size == 0) continue;  // a region without memory of its own
    bool overlaps = false;
    for (const auto &x : extents)
      overlaps = overlaps || (x.phys < *start + *size && *start < x.phys + x.length);
    if (!overlaps) continue;
    kb.has_region = true;
    const std::string file = nd + region + "/badblocks";
    auto text = root.read_optional(file);
    if (!text)
      throw Error(-ENOENT, "tiermem: " + root.path(file) + " is missing; this kernel does not list " +
                               region + "'s bad blocks");
    kb.sources.push_back(root.path(file));
    // read_optional() drops the final newline; the parser accepts either form.
    for (const BadSectors &b : parse_badblocks(*text, root.path(file))) {
      ++kb.region_entries;
      const std::uint64_t lo = *start + b.sector * kSector, hi = lo + b.count * kSector;
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

// The kernel's badblocks list of an nd region, as `tiermem badblocks` and the devdax backend
// read it: the text is parsed or refused with a one-line error, and the bad ranges reported
// for a device in that region are exactly the listed sectors that fall inside the device.
#include <algorithm>

#include "fuzz.hpp"
#include "api/admin.hpp"
#include "safety/badblocks.hpp"

namespace {

// A region of 4 GiB at 4 GiB; dax0.0 maps two pieces of it, out of order.
constexpr std::uint64_t kRegion = 4ull << 30, kRegionSize = 4ull << 30;
struct Piece {
  std::uint64_t phys, offset, length;
};
constexpr Piece kPieces[] = {{kRegion + (3ull << 30), 0, 1ull << 30},
                             {kRegion + (1ull << 30), 1ull << 30, 512ull << 20}};

const fuzz::ScratchDir &tree() {
  static const fuzz::ScratchDir dir;
  static const bool made = [] {
    dir.write("sys/devices/system/node/online", "0\n");
    for (int i = 0; i < 2; ++i) {
      const std::string m = "sys/bus/dax/devices/dax0.0/mapping" + std::to_string(i) + "/";
      dir.write(m + "start", std::to_string(kPieces[i].phys) + "\n");
      dir.write(m + "end", std::to_string(kPieces[i].phys + kPieces[i].length - 1) + "\n");
      dir.write(m + "page_offset", std::to_string(kPieces[i].offset / 4096) + "\n");
    }
    dir.write("sys/bus/dax/devices/dax0.0/size", std::to_string((1ull << 30) + (512ull << 20)));
    dir.write("sys/bus/nd/devices/region0/resource", std::to_string(kRegion) + "\n");
    dir.write("sys/bus/nd/devices/region0/size", std::to_string(kRegionSize) + "\n");
    return true;
  }();
  (void)made;
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem::safety;
  const std::string_view text = fuzz::text(data, size);
  std::vector<BadSectors> lines;
  try {
    lines = parse_badblocks(text, "region0/badblocks");
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, text);
    return 0;
  }
  for (const auto &b : lines) FUZZ_CHECK(b.count >= 1);

  // The same list as region0's file, mapped to dax0.0's offsets.
  const auto &dir = tree();
  dir.write("sys/bus/nd/devices/region0/badblocks", text);
  const tiermem::platform::SysfsRoot root(dir.path().string());
  KnownBadBlocks kb;
  try {
    kb = tiermem::api::bad_blocks_of(root, "dax0.0");
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, text);
    return 0;
  }
  FUZZ_CHECK(kb.has_region && kb.region_entries == lines.size());
  // What the ranges must be, in exact (128-bit) arithmetic: the region's bytes the list
  // names, inside the region, on the device's pieces.
  std::vector<BadRange> want;
  for (const auto &b : lines) {
    const unsigned __int128 lo = kRegion + static_cast<unsigned __int128>(b.sector) * 512;
    const unsigned __int128 hi = std::min<unsigned __int128>(
        lo + static_cast<unsigned __int128>(b.count) * 512, kRegion + kRegionSize);
    for (const auto &p : kPieces) {
      const unsigned __int128 a = std::max<unsigned __int128>(lo, p.phys);
      const unsigned __int128 z = std::min<unsigned __int128>(hi, p.phys + p.length);
      if (a < z)
        want.push_back({static_cast<std::uint64_t>(p.offset + (a - p.phys)),
                        static_cast<std::uint64_t>(z - a)});
    }
  }
  want = merge_ranges(std::move(want));
  FUZZ_CHECK(kb.ranges.size() == want.size());
  for (std::size_t i = 0; i < want.size(); ++i)
    FUZZ_CHECK(kb.ranges[i].offset == want[i].offset && kb.ranges[i].length == want[i].length);
  return 0;
}

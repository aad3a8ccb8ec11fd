// Known bad blocks: the kernel's badblocks format, and region sectors mapped to dax device
// offsets, on the constructed tree tests/fixtures/badblocks/nvdimm (see its README).
#include <doctest/doctest.h>

#include <filesystem>
#include <string>

#include "api/admin.hpp"
#include "safety/badblocks.hpp"
#include "topology/dax.hpp"
#include "support.hpp"
#include "tiermem/error.hpp"

namespace t = tiermem::test;
namespace fs = std::filesystem;
using tiermem::platform::SysfsRoot;
using namespace tiermem::safety;

namespace {

std::string nvdimm() { return t::fixture_file("badblocks/nvdimm"); }

using tiermem::test::error_of;
using tiermem::topology::dax_extents;

// Topology reads the device's pieces and its regions' lists, safety maps them: the api's
// composition, the one the commands and the devdax backend use.
KnownBadBlocks known_bad_blocks(const SysfsRoot &root, const std::string &name) {
  return tiermem::api::bad_blocks_of(root, name);
}

/** A writable copy of the constructed tree. */
fs::path copy_nvdimm(const t::TempDir &dir) {
  fs::path dst = dir.path() / "root";
  fs::copy(nvdimm(), dst, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  return dst;
}

const fs::path kRegion = "sys/devices/ndbus0/region0";

}  // namespace

TEST_CASE("a badblocks file of SECTOR COUNT lines parses, and an empty one is no bad blocks") {
  auto v = parse_badblocks("16 8\n40960 1\n", "bb");
  REQUIRE(v.size() == 2);
  CHECK(v[0].sector == 16);
  CHECK(v[0].count == 8);
  CHECK(v[1].sector == 40960);
  CHECK(v[1].count == 1);
  CHECK(parse_badblocks("", "bb").empty());
  CHECK(parse_badblocks("7 3", "bb").size() == 1);  // without the final newline (sysfs read trims it)
}

TEST_CASE("a badblocks line in an unexpected format fails naming the file and the line") {
  struct Bad {
    const char *text, *why;
  } cases[] = {
      {"16\n", "does not have two numbers"},
      {"16 8 1\n", "does not have two numbers"},
      {"0x10 8\n", "sector that is not a decimal number"},
      {"16 -8\n", "count that is not a decimal number"},
      {"16 0\n", "count of 0"},
      {"16 8\n\n17 1\n", "line 2 '' is empty"},
      {"36028797018963967 8\n", "runs past 2^64 bytes"},
  };
  for (const auto &c : cases) {
    CAPTURE(c.text);
    const std::string msg = error_of([&] { parse_badblocks(c.text, "/sys/x/badblocks"); });
    CHECK(msg.find("tiermem: /sys/x/badblocks: line ") == 0);
    CHECK(msg.find(c.why) != std::string::npos);
    CHECK(msg.find("'SECTOR COUNT'") != std::string::npos);
    CHECK(t::lines(msg) == 0);
  }
}

TEST_CASE("region bad blocks land at the dax device offsets of their physical addresses") {
  SysfsRoot root(nvdimm());
  auto kb = known_bad_blocks(root, "dax0.0");
  CHECK(kb.has_region);
  CHECK(kb.region_entries == 5);
  REQUIRE(kb.sources.size() == 1);
  CHECK(kb.sources[0] == root.path("sys/bus/nd/devices/region0/badblocks"));
  REQUIRE(kb.ranges.size() == 3);
  // 40960 8 and 40968 1 touch: one range; 16 8 lies in the info block before the device.
  CHECK(kb.ranges[0].offset == 0x200000);
  CHECK(kb.ranges[0].length == 4608);
  CHECK(kb.ranges[1].offset == 0x10003000);
  CHECK(kb.ranges[1].length == 8192);
  CHECK(kb.ranges[2].offset == 0x3edff000);
  CHECK(kb.ranges[2].end() == 1054867456);  // the device's last page
}

TEST_CASE("a dax device in no nd region has no bad block list") {
  SysfsRoot root(nvdimm());
  auto x = dax_extents(root, "dax1.0");  // no mapping directories: resource and size
  REQUIRE(x.size() == 1);
  CHECK(x[0].phys == 0x200000000);
  CHECK(x[0].length == 536870912);
  auto kb = known_bad_blocks(root, "dax1.0");
  CHECK_FALSE(kb.has_region);
  CHECK(kb.ranges.empty());
  CHECK(kb.sources.empty());
}

TEST_CASE("a dax device's mapping ranges with a page offset place bad blocks after it") {
  t::TempDir dir;
  auto root_dir = copy_nvdimm(dir);
  const fs::path dax = root_dir / kRegion / "dax0.0/dax0.0";
  // Two pieces: device pages [0, 256) at 0x120000000, then 0x101200000-0x11fffffff.
  fs::create_directory(dax / "mapping1");
  t::write_file(dax / "mapping1/start", "0x120000000\n");
  t::write_file(dax / "mapping1/end", "0x1200fffff\n");
  t::write_file(dax / "mapping1/page_offset", "0x0\n");
  t::write_file(dax / "mapping0/page_offset", "0x100\n");
  t::write_file(dax / "mapping0/end", "0x11fffffff\n");
  t::write_file(root_dir / kRegion / "badblocks", "1048576 8\n40960 8\n");
  auto kb = known_bad_blocks(SysfsRoot(root_dir.string()), "dax0.0");
  REQUIRE(kb.ranges.size() == 2);
  CHECK(kb.ranges[0].offset == 0);          // 0x120000000: device page 0
  CHECK(kb.ranges[1].offset == 0x300000);   // 0x101400000: 2 MiB into mapping0, after 1 MiB
}

TEST_CASE("a malformed badblocks file in the tree is one error naming that file") {
  t::TempDir dir;
  auto root_dir = copy_nvdimm(dir);
  t::write_file(root_dir / kRegion / "badblocks", "16 8\nbogus\n");
  const std::string msg =
      error_of([&] { known_bad_blocks(SysfsRoot(root_dir.string()), "dax0.0"); });
  CHECK(msg.find((root_dir / "sys/bus/nd/devices/region0/badblocks").string() + ": line 2 'bogus'") !=
        std::string::npos);
}

TEST_CASE("a missing badblocks file or a corrupt address fails naming the file") {
  t::TempDir dir;
  auto root_dir = copy_nvdimm(dir);
  fs::remove(root_dir / kRegion / "badblocks");
  CHECK(error_of([&] { known_bad_blocks(SysfsRoot(root_dir.string()), "dax0.0"); })
            .find("region0/badblocks is missing") != std::string::npos);
  t::write_file(root_dir / kRegion / "resource", "zz\n");
  CHECK(error_of([&] { known_bad_blocks(SysfsRoot(root_dir.string()), "dax0.0"); })
            .find("region0/resource: 'zz' is not a number") != std::string::npos);
  t::write_file(root_dir / kRegion / "dax0.0/dax0.0/mapping0/end", "0x1\n");
  CHECK(error_of([&] { dax_extents(SysfsRoot(root_dir.string()), "dax0.0"); })
            .find("mapping0: end 1 is below start") != std::string::npos);
}

TEST_CASE("a device argument is a dax device name or its /dev path, nothing else") {
  SysfsRoot root(nvdimm());
  CHECK(tiermem::topology::dax_device_name(root, "dax0.0") == "dax0.0");
  CHECK(tiermem::topology::dax_device_name(root, "/dev/dax1.0") == "dax1.0");
  for (const char *bad : {"dax9.9", "/dev/sda", "../dax0.0", "region0"}) {
    CAPTURE(bad);
    const std::string msg = error_of([&] { tiermem::topology::dax_device_name(root, bad); });
    CHECK(msg.find(std::string("tiermem: ") + bad + " is not a dax device") == 0);
    CHECK(msg.find("tiermem list") != std::string::npos);
  }
}

TEST_CASE("overlapping and touching ranges merge, empty ones vanish") {
  auto m = merge_ranges({{100, 10}, {0, 10}, {10, 5}, {105, 20}, {50, 0}});
  REQUIRE(m.size() == 2);
  CHECK(m[0].offset == 0);
  CHECK(m[0].length == 15);
  CHECK(m[1].offset == 100);
  CHECK(m[1].length == 25);
}

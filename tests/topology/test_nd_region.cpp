// Where a dax device lies in physical memory and which nd regions hold it, read from the
// constructed tree tests/fixtures/badblocks/nvdimm (see its README); safety maps the lists.
#include <doctest/doctest.h>

#include <string>

#include "support.hpp"
#include "topology/dax.hpp"
#include "topology/nd_region.hpp"

namespace t = tiermem::test;
using tiermem::platform::SysfsRoot;
using namespace tiermem::topology;

TEST_CASE("the nd region holding a dax device comes with its badblocks list as the kernel wrote it") {
  SysfsRoot root(t::fixture_file("badblocks/nvdimm"));
  const auto extents = dax_extents(root, "dax0.0");
  REQUIRE_FALSE(extents.empty());
  const auto regions = nd_regions_holding(root, extents);
  REQUIRE(regions.size() == 1);
  CHECK(regions[0].name == "region0");
  CHECK(regions[0].start == 0x100000000);
  CHECK(regions[0].size == 1073741824);
  CHECK(regions[0].badblocks_file == root.path("sys/bus/nd/devices/region0/badblocks"));
  CHECK(regions[0].badblocks.rfind("16 8\n40960 8\n40968 1", 0) == 0);
}

TEST_CASE("a dax device outside every nd region is held by none") {
  SysfsRoot root(t::fixture_file("badblocks/nvdimm"));
  CHECK(nd_regions_holding(root, dax_extents(root, "dax1.0")).empty());
  CHECK(nd_regions_holding(root, {}).empty());
}

TEST_CASE("the extents of a name that is no dax device fail naming the missing directory") {
  SysfsRoot root(t::fixture_file("badblocks/nvdimm"));
  const std::string msg = t::error_of([&] { dax_extents(root, "dax9.9"); });
  CHECK(msg == "tiermem: " + root.path("sys/bus/dax/devices/dax9.9") +
                   " is missing; dax9.9 is not a dax device");
}

#include <doctest/doctest.h>

#include "support.hpp"
#include "topology/node_state.hpp"

namespace t = tiermem::test;
using tiermem::DiscoverOptions;
using tiermem::topology::node_state;

TEST_CASE("node_state reads each node's CPUs, size and free memory from the recorded machine") {
  const auto state = node_state(DiscoverOptions{t::machine("hwloc/fakeheteromemtiers"), ""});
  REQUIRE(state.size() == 7);
  CHECK(state[0].node == 0);
  CHECK(state[0].cpus == std::vector<unsigned>{0, 1});
  CHECK(state[2].node == 2);
  CHECK(state[2].cpus == std::vector<unsigned>{4, 5});
  CHECK(state[2].total_bytes == std::uint64_t{512} << 20);
  CHECK((state[2].free_bytes.value_or(0) >> 20) == 509);
  CHECK(state[3].node == 4);
  CHECK(state[3].cpus.empty());
}

TEST_CASE("node_state names a meminfo without MemFree") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::write_file(root / "sys/devices/system/node/node2/meminfo", "Node 2 MemTotal:       524288 kB\n");
  const auto err = t::error_of([&] { node_state(DiscoverOptions{root.string(), ""}); });
  CHECK(err.find("node2/meminfo has no MemFree line; the file is corrupt") != std::string::npos);
}

TEST_CASE("node_state of an hwloc XML is empty: it records no such state") {
  CHECK(node_state(DiscoverOptions{"", t::fixture_file("hwloc/8intel64-4n2t-memattrs.xml")}).empty());
}

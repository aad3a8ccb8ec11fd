#include <doctest/doctest.h>

#include <cerrno>
#include <cstdlib>
#include <string>

#include "support.hpp"
#include "tiermem/tiermem.h"

namespace t = tiermem::test;

TEST_CASE("the C API reads a recorded machine's tiers, nodes and devices") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  tm_topology_options o{};
  o.fsroot = root.c_str();
  tm_topology *topo = nullptr;
  REQUIRE(tm_topology_load(&o, &topo) == 0);
  REQUIRE(topo != nullptr);
  CHECK(tm_topology_tier_count(topo) == 6);
  CHECK(tm_topology_dax_count(topo) == 8);

  tm_tier_info tier{};
  REQUIRE(tm_topology_tier(topo, 0, &tier) == 0);
  CHECK(std::string(tier.kind) == "HBM");
  REQUIRE(tier.numa_node_count == 2);
  CHECK(tier.numa_nodes[0] == 2);
  CHECK(tier.numa_nodes[1] == 4);
  CHECK(tier.bandwidth_mbps == 10000);
  CHECK(tier.latency_ns == -1);
  REQUIRE(tier.dax_device_count == 2);

  tm_dax_info dax{};
  REQUIRE(tm_topology_dax(topo, tier.dax_devices[0], &dax) == 0);
  CHECK(dax.mode == TM_DAX_SYSTEM_RAM);
  CHECK(std::string(dax.driver) == "kmem");

  size_t found = 0;
  for (size_t i = 0; i < tm_topology_dax_count(topo); ++i) {
    REQUIRE(tm_topology_dax(topo, i, &dax) == 0);
    if (std::string(dax.name) != "dax0.0") continue;
    ++found;
    CHECK(std::string(dax.path) == "/dev/dax0.0");
    CHECK(dax.size == 536870912u);
    CHECK(dax.align == 2097152u);
    CHECK(dax.target_node == 3);
    CHECK(dax.mode == TM_DAX_DEVDAX);
  }
  CHECK(found == 1);

  tm_node_info node{};
  REQUIRE(tm_topology_node(topo, 0, &node) == 0);
  CHECK(node.os_index == 0);
  CHECK(node.online == 1);
  CHECK(std::string(node.subtype) == "DRAM");
  tm_topology_free(topo);
}

TEST_CASE("the C API's JSON equals the C++ document") {
  tm_topology *topo = nullptr;
  REQUIRE(tm_topology_load(nullptr, &topo) == 0);
  char *json = tm_topology_to_json(topo);
  REQUIRE(json != nullptr);
  CHECK(std::string(json).find("\"tiers\"") != std::string::npos);
  std::free(json);
  tm_topology_free(topo);
}

TEST_CASE("the C API returns a negative code and a one-line message for a missing fsroot") {
  tm_topology_options o{};
  o.fsroot = "/nonexistent/machine";
  tm_topology *topo = reinterpret_cast<tm_topology *>(0x1);
  CHECK(tm_topology_load(&o, &topo) == -ENOENT);
  CHECK(topo == nullptr);
  CHECK(std::string(tm_last_error()).find("/nonexistent/machine does not exist") != std::string::npos);
  CHECK(std::string(tm_strerror(-ENOENT)).size() > 0);
}

TEST_CASE("the C API refuses an index past the end") {
  tm_topology *topo = nullptr;
  REQUIRE(tm_topology_load(nullptr, &topo) == 0);
  tm_tier_info tier{};
  CHECK(tm_topology_tier(topo, 1000, &tier) == -ERANGE);
  CHECK(std::string(tm_last_error()).find("index 1000") != std::string::npos);
  tm_node_info node{};
  CHECK(tm_topology_node(topo, 1000, &node) == -ERANGE);
  tm_dax_info dax{};
  CHECK(tm_topology_dax(topo, 1000, &dax) == -ERANGE);
  CHECK(tm_topology_load(nullptr, nullptr) == -EINVAL);
  tm_topology_free(topo);
}

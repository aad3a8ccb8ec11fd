#include <doctest/doctest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "support.hpp"
#include "tiermem/topology.hpp"

using namespace tiermem;
using tiermem::test::machine;

namespace {

Topology load(const std::string &stem) {
  DiscoverOptions o;
  o.fsroot = machine(stem);
  return Topology::discover(o);
}

const Tier &tier_with_device(const Topology &t, const std::string &name) {
  for (const auto &tier : t.tiers())
    for (auto i : tier.dax_devices)
      if (t.dax_devices()[i].name == name) return tier;
  FAIL("no tier holds " << name);
  throw std::logic_error("unreachable");
}

}  // namespace

TEST_CASE("fakeheteromemtiers: NUMA nodes form three tiers, HBM then DRAM then NVM") {
  const auto t = load("hwloc/fakeheteromemtiers");
  std::vector<const Tier *> node_tiers;
  for (const auto &tier : t.tiers())
    if (!tier.numa_nodes.empty()) node_tiers.push_back(&tier);
  REQUIRE(node_tiers.size() == 3);
  CHECK(node_tiers[0]->kind == "HBM");
  CHECK(node_tiers[0]->numa_nodes == std::vector<unsigned>{2, 4});
  CHECK(node_tiers[1]->kind == "DRAM");
  CHECK(node_tiers[1]->numa_nodes == std::vector<unsigned>{0, 1});
  CHECK(node_tiers[2]->kind == "NVM");
  CHECK(node_tiers[2]->numa_nodes == std::vector<unsigned>{6, 8, 9});
  CHECK(node_tiers[0]->rank < node_tiers[1]->rank);
  CHECK(node_tiers[1]->rank < node_tiers[2]->rank);
}

TEST_CASE("fakeheteromemtiers: tiers carry hwloc's measured bandwidth and unknown latency") {
  const auto t = load("hwloc/fakeheteromemtiers");
  CHECK(t.tiers()[0].bandwidth_mbps == 10000u);
  CHECK(t.tiers()[1].bandwidth_mbps == 1000u);
  CHECK(t.tiers()[2].bandwidth_mbps == 100u);
  for (const auto &tier : t.tiers()) CHECK_FALSE(tier.latency_ns.has_value());
}

TEST_CASE("fakeheteromemtiers: devdax devices keep their offline target nodes and rank below DRAM") {
  const auto t = load("hwloc/fakeheteromemtiers");
  const std::pair<const char *, int> expected[] = {{"dax0.0", 3}, {"dax2.0", 5}, {"dax6.0", 7}};
  unsigned dram_rank = 0;
  for (const auto &tier : t.tiers())
    if (tier.kind == "DRAM") dram_rank = tier.rank;
  for (auto [name, target] : expected) {
    const DaxDevice *d = t.dax_device(name);
    REQUIRE(d != nullptr);
    CHECK(d->mode == DaxMode::devdax);
    CHECK(d->driver == "device_dax");
    CHECK(d->target_node == target);
    CHECK(d->align == 2097152u);
    const Tier &home = tier_with_device(t, name);
    CHECK(home.rank > dram_rank);
    CHECK(home.kind == "unknown");
    CHECK(home.numa_nodes.empty());
    CHECK(home.note.find("node " + std::to_string(target) + " is offline") != std::string::npos);
    const NumaNode *n = t.node(static_cast<unsigned>(target));
    REQUIRE(n != nullptr);
    CHECK_FALSE(n->online);
  }
}

TEST_CASE("fakeheteromemtiers: kmem-bound devices are listed as backing their nodes' tiers") {
  const auto t = load("hwloc/fakeheteromemtiers");
  int kmem = 0;
  for (const auto &d : t.dax_devices()) {
    if (d.mode != DaxMode::system_ram) continue;
    ++kmem;
    CHECK(d.driver == "kmem");
    REQUIRE(d.target_node.has_value());
    const Tier &home = tier_with_device(t, d.name);
    CHECK(std::count(home.numa_nodes.begin(), home.numa_nodes.end(),
                     static_cast<unsigned>(*d.target_node)) == 1);
  }
  CHECK(kmem == 5);
  CHECK(tier_with_device(t, "dax1.0").kind == "HBM");
  CHECK(tier_with_device(t, "dax5.0").kind == "NVM");
}

TEST_CASE("32em64t: a real two-socket machine gives one DRAM tier and its dax devices") {
  const auto t = load("hwloc/32em64t-2n8c+dax+nvme+mic+dimms");
  REQUIRE_FALSE(t.tiers().empty());
  CHECK(t.tiers()[0].kind == "DRAM");
  CHECK(t.tiers()[0].numa_nodes == std::vector<unsigned>{0, 1});
  CHECK(t.tiers()[0].capacity_bytes > 30ull << 30);
  REQUIRE(t.dax_devices().size() == 3);
  CHECK(t.dax_device("dax1.4")->mode == DaxMode::system_ram);
  CHECK(t.dax_device("dax0.0")->target_node == 4);
  CHECK(tier_with_device(t, "dax0.0").rank > 0);
}

TEST_CASE("fakeheterocpunuma: nodes with CPUs form one DRAM tier, the CPU-less node its own") {
  const auto t = load("hwloc/fakeheterocpunuma");
  REQUIRE(t.tiers().size() == 2);
  CHECK(t.tiers()[0].kind == "DRAM");
  CHECK(t.tiers()[0].numa_nodes == std::vector<unsigned>{0, 1, 3, 4, 5});
  CHECK(t.tiers()[1].numa_nodes == std::vector<unsigned>{2});
  CHECK(t.tiers()[1].kind == "unknown");
}

TEST_CASE("an hwloc 2 XML loads without dax devices") {
  DiscoverOptions o;
  o.hwloc_xml = tiermem::test::fixture_file("hwloc/cxlmem+dax.v2.xml");
  const auto t = Topology::discover(o);
  REQUIRE(t.tiers().size() == 1);
  CHECK(t.tiers()[0].kind == "DRAM");
  CHECK(t.tiers()[0].capacity_bytes == 3061719040u);
  CHECK(t.dax_devices().empty());
}

TEST_CASE("this machine's own topology ranks a DRAM tier first") {
  const auto t = Topology::discover();
  REQUIRE_FALSE(t.tiers().empty());
  CHECK(t.tiers()[0].kind == "DRAM");
  CHECK(t.tiers()[0].capacity_bytes > 0);
  std::size_t online_nodes = 0;
  for (const auto &n : t.nodes()) online_nodes += n.online && n.capacity_bytes > 0;
  std::size_t node_tiers = 0;
  for (const auto &tier : t.tiers()) node_tiers += !tier.numa_nodes.empty();
  if (online_nodes == 1) CHECK(node_tiers == 1);  // the development and CI machines
}

TEST_CASE("the JSON document has the contract's keys") {
  const auto t = load("hwloc/fakeheteromemtiers");
  const auto j = nlohmann::json::parse(t.to_json());
  REQUIRE(j.contains("tiers"));
  REQUIRE(j.contains("nodes"));
  REQUIRE(j.contains("dax_devices"));
  const auto &tier0 = j["tiers"][0];
  for (const char *key : {"rank", "kind", "numa_nodes", "capacity_bytes", "bandwidth_mbps",
                          "latency_ns", "dax_devices"})
    CHECK_MESSAGE(tier0.contains(key), key);
  CHECK(tier0["latency_ns"].is_null());
  CHECK(tier0["numa_nodes"] == nlohmann::json::array({2, 4}));
  const auto &dev = j["tiers"][0]["dax_devices"][0];
  for (const char *key : {"name", "path", "size", "align", "target_node", "mode"})
    CHECK_MESSAGE(dev.contains(key), key);
  CHECK(dev["mode"] == "system-ram");
  bool found = false;
  for (const auto &d : j["dax_devices"])
    if (d["name"] == "dax0.0") {
      found = true;
      CHECK(d["path"] == "/dev/dax0.0");
      CHECK(d["size"] == 536870912);
      CHECK(d["align"] == 2097152);
      CHECK(d["target_node"] == 3);
      CHECK(d["mode"] == "devdax");
    }
  CHECK(found);
}

TEST_CASE("TIERMEM_FSROOT points discovery at a recorded machine") {
  const std::string root = machine("hwloc/fakeheteromemtiers");
  ::setenv("TIERMEM_FSROOT", root.c_str(), 1);
  const auto t = Topology::discover();
  ::unsetenv("TIERMEM_FSROOT");
  CHECK(t.dax_devices().size() == 8);
  CHECK(t.tiers()[0].kind == "HBM");
}

TEST_CASE("the older /sys/class/dax layout is read when the dax bus is absent") {
  tiermem::test::TempDir dir;
  auto root = tiermem::test::copy_machine(dir, "hwloc/fakeheteromemtiers");
  // Pre-5.1 kernels: /sys/class/dax/daxX.Y links to the device, whose driver hangs below
  // device/. Rebuild the dump's links in that layout and remove the bus.
  namespace fs = tiermem::test::fs;
  fs::create_directories(root / "sys/class/dax");
  for (const auto &e : fs::directory_iterator(root / "sys/bus/dax/devices")) {
    auto target = fs::read_symlink(e.path()).string();  // ../../../devices/platform/...
    fs::create_directory_symlink(target.substr(3), root / "sys/class/dax" / e.path().filename());
  }
  fs::remove_all(root / "sys/bus/dax");
  auto dev = fs::canonical(root / "sys/class/dax/dax0.0");
  fs::create_directory(dev / "device");
  fs::rename(dev / "driver", dev / "device/driver");
  DiscoverOptions o;
  o.fsroot = root.string();
  const auto t = Topology::discover(o);
  CHECK(t.dax_devices().size() == 8);
  REQUIRE(t.dax_device("dax0.0") != nullptr);
  CHECK(t.dax_device("dax0.0")->mode == DaxMode::devdax);
  CHECK(t.dax_device("dax0.0")->target_node == 3);
  CHECK(t.dax_device("dax1.0")->mode == DaxMode::system_ram);
}

TEST_CASE("the kernel's memory tiers are read and order tiers of equal kind") {
  tiermem::test::TempDir dir;
  auto root = tiermem::test::copy_machine(dir, "hwloc/fakeheteromemtiers");
  auto mt = root / "sys/devices/virtual/memory_tiering";
  tiermem::test::fs::create_directories(mt / "memory_tier4");
  tiermem::test::fs::create_directories(mt / "memory_tier22");
  tiermem::test::write_file(mt / "memory_tier4/nodelist", "0-2,4\n");
  tiermem::test::write_file(mt / "memory_tier22/nodelist", "6,8-9\n");
  DiscoverOptions o;
  o.fsroot = root.string();
  const auto t = Topology::discover(o);
  CHECK(t.node(0)->memory_tier == 4);
  CHECK(t.node(8)->memory_tier == 22);
  CHECK_FALSE(t.node(3)->memory_tier.has_value());
  const auto j = nlohmann::json::parse(t.to_json());
  for (const auto &n : j["nodes"])
    if (n["os_index"] == 9) CHECK(n["memory_tier"] == 22);
}

TEST_CASE("without measured performance, tiers rank by kind, then kernel memory tier") {
  auto node = [](unsigned i, const char *subtype, bool cpus, std::optional<int> mt) {
    NumaNode n;
    n.os_index = i;
    n.online = true;
    n.has_cpus = cpus;
    n.capacity_bytes = 1 << 30;
    n.subtype = subtype;
    n.memory_tier = mt;
    return n;
  };
  const auto t = Topology::from_parts({node(0, "", true, 4), node(1, "NVM", false, 22),
                                       node(2, "HBM", false, 4), node(3, "", false, 30),
                                       node(4, "", false, 22)},
                                      {});
  REQUIRE(t.tiers().size() == 5);
  CHECK(t.tiers()[0].kind == "HBM");
  CHECK(t.tiers()[1].kind == "DRAM");
  CHECK(t.tiers()[2].kind == "NVM");
  CHECK(t.tiers()[3].numa_nodes == std::vector<unsigned>{4});  // unknown, memory tier 22
  CHECK(t.tiers()[4].numa_nodes == std::vector<unsigned>{3});  // unknown, memory tier 30
  CHECK(t.tiers()[3].note.find("kind unknown") != std::string::npos);
}

TEST_CASE("nodes of one kind with performance far apart form separate tiers") {
  auto node = [](unsigned i, std::uint64_t bw) {
    NumaNode n;
    n.os_index = i;
    n.online = true;
    n.has_cpus = true;
    n.capacity_bytes = 1 << 30;
    n.subtype = "DRAM";
    n.bandwidth_mbps = bw;
    return n;
  };
  const auto t = Topology::from_parts({node(0, 10000), node(1, 9000), node(2, 4000)}, {});
  REQUIRE(t.tiers().size() == 2);
  CHECK(t.tiers()[0].numa_nodes == std::vector<unsigned>{0, 1});
  CHECK(t.tiers()[0].bandwidth_mbps == 9000u);  // the slowest member's number
  CHECK(t.tiers()[1].numa_nodes == std::vector<unsigned>{2});
}

TEST_CASE("a devdax device whose target node is online joins that node's tier") {
  NumaNode n;
  n.os_index = 0;
  n.online = true;
  n.has_cpus = true;
  n.capacity_bytes = 1 << 30;
  DaxDevice d;
  d.name = "dax0.0";
  d.path = "/dev/dax0.0";
  d.size = 1 << 29;
  d.target_node = 0;
  d.mode = DaxMode::devdax;
  const auto t = Topology::from_parts({n}, {d});
  REQUIRE(t.tiers().size() == 1);
  CHECK(t.tiers()[0].dax_devices == std::vector<std::size_t>{0});
  CHECK(t.tiers()[0].capacity_bytes == (1u << 30) + (1u << 29));
}

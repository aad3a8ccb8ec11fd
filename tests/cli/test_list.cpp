#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "support.hpp"

namespace t = tiermem::test;
using t::lines;

TEST_CASE("tiermem list prints a table with a DRAM tier on this machine") {
  const auto r = t::run_cli("list");
  CHECK(r.status == 0);
  CHECK(r.out.find("TIER") == 0);
  CHECK(r.out.find("DRAM") != std::string::npos);
}

TEST_CASE("tiermem list --json on a recorded machine is the JSON contract") {
  const auto r = t::run_cli("--fsroot '" + t::machine("hwloc/fakeheteromemtiers") + "' list --json");
  REQUIRE(r.status == 0);
  const auto j = nlohmann::json::parse(r.out);
  CHECK(j["tiers"][0]["kind"] == "HBM");
  CHECK(j["tiers"][0]["numa_nodes"] == nlohmann::json::array({2, 4}));
  CHECK(j["dax_devices"].size() == 8);
}

TEST_CASE("the table names devdax devices with their mode and explains unknown tiers") {
  const auto r = t::run_cli("--fsroot '" + t::machine("hwloc/fakeheteromemtiers") + "' list");
  REQUIRE(r.status == 0);
  CHECK(r.out.find("dax0.0(devdax)") != std::string::npos);
  CHECK(r.out.find("dax1.0(system-ram)") != std::string::npos);
  CHECK(r.out.find("target node 3 is offline") != std::string::npos);
}

TEST_CASE("TIERMEM_FSROOT selects the recorded machine for the CLI too") {
  const auto r = t::run_cli("list --json", "TIERMEM_FSROOT='" + t::machine("hwloc/fakeheteromemtiers") + "'");
  REQUIRE(r.status == 0);
  CHECK(nlohmann::json::parse(r.out)["tiers"][0]["kind"] == "HBM");
}

TEST_CASE("a missing fsroot exits 2 with one line naming it") {
  const auto r = t::run_cli("--fsroot /nonexistent/root list");
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("/nonexistent/root does not exist") != std::string::npos);
}

TEST_CASE("a corrupt attribute exits 2 with one line and no partial table") {
  t::TempDir dir;
  auto root = t::copy_machine(dir, "hwloc/fakeheteromemtiers");
  t::write_file(root / "sys/bus/dax/devices/dax0.0/target_node", "abc\n");
  const auto r = t::run_cli("--fsroot '" + root.string() + "' list");
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("target_node: 'abc' is not a number") != std::string::npos);
}

TEST_CASE("a foreign hwloc XML exits 2 with one line") {
  const auto r = t::run_cli("--hwloc-xml '" + t::fixture_file("hwloc/64intel64-heteromem.xml") + "' list");
  CHECK(r.status == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("version 3.0") != std::string::npos);
}

TEST_CASE("an unknown option exits 2") {
  const auto r = t::run_cli("list --bogus");
  CHECK(r.status == 2);
  CHECK(r.err.find("--bogus") != std::string::npos);
}

TEST_CASE("list refuses an emulated tier above the heap's cap, stating it in TiB") {
  const auto r = t::run_cli("list", "TIERMEM_EMULATE=slow:99999T");
  CHECK(r.status == 2);
  CHECK(r.out.empty());
  CHECK(r.err == "tiermem: TIERMEM_EMULATE='slow:99999T': tier 'slow' asks for 99999 TiB, more than "
                 "the 4 TiB an emulated tier may hold (use at most 4T); expected NAME:SIZE[,NAME:SIZE...], "
                 "e.g. slow:1G\n");
}

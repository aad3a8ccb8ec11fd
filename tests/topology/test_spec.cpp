// Tier specs resolved on a topology (src/topology/spec.cpp), without opening anything: what
// the heap opens and what `tiermem run` decides on before exec.
#include <doctest/doctest.h>

#include "support.hpp"
#include "tiermem/topology.hpp"
#include "topology/emulate.hpp"
#include "topology/spec.hpp"

using namespace tiermem;
using topology::resolve_spec;
using topology::TierTarget;

namespace {

Topology recorded() {
  DiscoverOptions o;
  o.fsroot = test::machine("hwloc/fakeheteromemtiers");
  Topology t = Topology::discover(o);
  topology::append_emulated(t, topology::parse_emulate("slow:1G"));
  return t;
}

}  // namespace

TEST_CASE("a recorded machine's tiers resolve to its own nodes, devices and emulated tiers") {
  const Topology t = recorded();
  auto g = resolve_spec(t, "rank:1");
  CHECK(g.source == TierTarget::Source::nodes);
  CHECK(g.nodes == std::vector<unsigned>{0, 1});
  CHECK(g.rank == 1);
  g = resolve_spec(t, "dax:dax0.0");
  CHECK(g.source == TierTarget::Source::devdax);
  CHECK(g.dax_path == "/dev/dax0.0");
  g = resolve_spec(t, "emulated:slow");
  CHECK(g.source == TierTarget::Source::emulated);
  CHECK(g.size == (1ull << 30));
  CHECK(resolve_spec(t, "node:4").key == "nodes:4,");
}

TEST_CASE("a spec the machine lacks is refused with the reason the machine is unknown") {
  const Topology t = recorded();
  auto [code, msg] = test::error_code_of([&] { resolve_spec(t, "rank:9"); });
  CHECK(code == -ENOENT);
  CHECK(msg.find("this machine has 7 tier(s)") != std::string::npos);
  std::tie(code, msg) = test::error_code_of([&] { resolve_spec(t, "node:3", "no sysfs"); });
  CHECK(code == -ENOENT);
  CHECK(msg.find("no online NUMA node 3 for 'node:3' (no sysfs)") != std::string::npos);
  std::tie(code, msg) = test::error_code_of([&] { resolve_spec(t, "tier1"); });
  CHECK(code == -EINVAL);
  CHECK(msg.find(topology::kSpecHelp) != std::string::npos);
}

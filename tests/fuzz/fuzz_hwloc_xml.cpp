// An hwloc XML file (`tiermem --hwloc-xml FILE`, DiscoverOptions::hwloc_xml): written as a
// file and discovered through hwloc, then ranked and every tier resolved. Each file is
// discovered or refused with a one-line error naming it.
#include <cstdlib>

#include "fuzz.hpp"
#include "topology/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem;
  static const fuzz::ScratchDir dir;
  static const bool quiet = (::setenv("HWLOC_HIDE_ERRORS", "2", 0), true);
  (void)quiet;
  const std::string file = (dir.path() / "topology.xml").string();
  dir.write("topology.xml", fuzz::text(data, size));
  DiscoverOptions o;
  o.hwloc_xml = file;
  try {
    const Topology topo = Topology::discover(o);
    FUZZ_CHECK(!topo.nodes().empty());
    FUZZ_CHECK(!topo.to_json().empty());
    for (std::size_t i = 0; i < topo.tiers().size(); ++i) {
      FUZZ_CHECK(topo.tiers()[i].rank == i);
      try {
        const auto t = topology::resolve_spec(topo, "rank:" + std::to_string(i));
        FUZZ_CHECK(topology::resolve_spec(topo, t.name).key == t.key);
      } catch (const tiermem::Error &e) {
        fuzz::check_error(e, "\n");  // a subtype from the file may hold anything
      }
    }
  } catch (const tiermem::Error &e) {
    // The messages quote the version attribute, which may hold a line break.
    fuzz::check_error(e, fuzz::text(data, size));
  }
  return 0;
}

// Tier specs (rank:, kind:, node:, dax:, emulated:) resolved on a machine with every kind of
// memory: each text is resolved or refused with a one-line error, and a resolved spec's
// canonical name resolves to the same memory.
#include "fuzz.hpp"
#include "topology/emulate.hpp"
#include "topology/spec.hpp"

namespace {

tiermem::Topology machine() {
  using namespace tiermem;
  NumaNode dram;
  dram.os_index = 0, dram.online = true, dram.has_cpus = true, dram.capacity_bytes = 8ull << 30;
  dram.subtype = "DRAM";
  NumaNode hbm;
  hbm.os_index = 1, hbm.online = true, hbm.capacity_bytes = 2ull << 30, hbm.subtype = "HBM";
  NumaNode cxl;
  cxl.os_index = 3, cxl.online = true, cxl.capacity_bytes = 16ull << 30;
  DaxDevice devdax;
  devdax.name = "dax0.0", devdax.path = "/dev/dax0.0", devdax.size = 1ull << 30;
  devdax.align = 2ull << 20, devdax.target_node = 2, devdax.mode = DaxMode::devdax;
  devdax.driver = "device_dax";
  DaxDevice kmem;
  kmem.name = "dax1.0", kmem.path = "/dev/dax1.0", kmem.size = 16ull << 30, kmem.target_node = 3;
  kmem.mode = DaxMode::system_ram, kmem.driver = "kmem";
  DaxDevice lost;
  lost.name = "dax2.0", lost.path = "/dev/dax2.0", lost.size = 1ull << 30;
  lost.mode = DaxMode::system_ram, lost.driver = "kmem";  // target node unknown
  DaxDevice unbound;
  unbound.name = "dax3.0", unbound.path = "/dev/dax3.0", unbound.size = 1ull << 30;
  Topology t = Topology::from_parts({dram, hbm, cxl}, {devdax, kmem, lost, unbound});
  tiermem::topology::append_emulated(t, tiermem::topology::parse_emulate("slow:1G,tiny:4K"));
  return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem::topology;
  static const tiermem::Topology topo = machine();
  const std::string_view text = fuzz::text(data, size);
  TierTarget t;
  try {
    t = resolve_spec(topo, text, size % 2 ? "" : "no sysfs below the root");
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, text);
    return 0;
  }
  FUZZ_CHECK(!t.name.empty() && !t.key.empty());
  FUZZ_CHECK(t.rank < static_cast<int>(topo.tiers().size()));
  const TierTarget again = resolve_spec(topo, t.name);
  FUZZ_CHECK(again.key == t.key && again.name == t.name);
  return 0;
}

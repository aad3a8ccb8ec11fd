// topology: the C++ view of the tiers; prints where each dax device sits.
// Usage: topology [FSROOT]
#include <cstdio>
#include <tiermem/topology.hpp>

int main(int argc, char **argv) {
  tiermem::DiscoverOptions options;
  if (argc > 1) options.fsroot = argv[1];
  try {
    const auto topo = tiermem::Topology::discover(options);
    for (const auto &tier : topo.tiers()) {
      std::printf("tier %u (%s):", tier.rank, tier.kind.c_str());
      for (unsigned n : tier.numa_nodes) std::printf(" node%u", n);
      for (auto i : tier.dax_devices) {
        const auto &d = topo.dax_devices()[i];
        std::printf(" %s[%s]", d.name.c_str(), tiermem::to_string(d.mode));
      }
      std::printf("\n");
    }
  } catch (const tiermem::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  }
  return 0;
}

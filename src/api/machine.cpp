#include "api/machine.hpp"

#include "topology/emulate.hpp"

namespace tiermem::api {

Topology machine(const DiscoverOptions &options) {
  Topology topo = Topology::discover(options);
  topology::apply_emulate_env(topo);
  return topo;
}

}  // namespace tiermem::api

// Calls for front ends: tm_tier_spec_nodes lets the launcher decide between a kernel memory
// policy and the preload library without opening, and so locking, a device; tm_set_decay_ms
// lets the preload library return memory as promptly as glibc does.
#include <cerrno>

#include "api/error.hpp"
#include "api/machine.hpp"
#include "heap/heap.hpp"
#include "tiermem/tiermem.h"

extern "C" TM_API int tm_tier_spec_nodes(const char *spec, unsigned *nodes, size_t max, size_t *count) {
  if (spec == nullptr || count == nullptr)
    return tiermem::api::set_last_error(-EINVAL, "tiermem: tm_tier_spec_nodes: NULL argument");
  return tiermem::api::guard([&] {
    // Resolved, not opened: a node tier, or a dax device in system-ram mode, is the kernel's.
    const tiermem::topology::TierTarget g = tiermem::api::resolve(spec);
    const std::vector<unsigned> found =
        g.source == tiermem::topology::TierTarget::Source::nodes ? g.nodes : std::vector<unsigned>{};
    *count = found.size();
    if (found.size() > max)
      throw tiermem::Error(-ERANGE, "tiermem: '" + std::string(spec) + "' spans " +
                                        std::to_string(found.size()) + " nodes, more than " +
                                        std::to_string(max));
    for (size_t i = 0; i < found.size(); ++i) nodes[i] = found[i];
    return found.empty() ? 0 : 1;
  });
}

extern "C" TM_API int tm_set_decay_ms(long ms) {
  return tiermem::api::guard([&] {
    tiermem::heap::set_default_decay_ms(ms);
    return 0;
  });
}

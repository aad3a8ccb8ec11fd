// `tiermem hardware`: numactl --hardware in tiers. Each tier with its nodes, their sizes, free
// memory and CPUs, then the nodes' distance matrix, all read from sysfs (so --fsroot shows a
// recorded machine).
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "api/machine.hpp"
#include "cli/commands.hpp"
#include "cli/machine.hpp"

namespace tiermem::cli {

namespace {

const api::NodeState *state_of(const std::vector<api::NodeState> &state, unsigned node) {
  for (const auto &s : state)
    if (s.node == node) return &s;
  return nullptr;
}

std::string number_list(const std::vector<unsigned> &v) {
  std::string s;
  for (unsigned x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s;
}

void print_hardware(const Machine &m, const std::vector<api::NodeState> &state) {
  const auto &topo = m.topo;
  std::vector<unsigned> nodes;
  for (const auto &n : topo.nodes())
    if (n.online) nodes.push_back(n.os_index);
  std::printf("available: %zu tier%s, %zu node%s (%s)\n", topo.tiers().size(),
              topo.tiers().size() == 1 ? "" : "s", nodes.size(), nodes.size() == 1 ? "" : "s",
              range_text(nodes).c_str());
  std::vector<unsigned> placed;
  for (const auto &t : topo.tiers()) {
    std::printf("tier %u (%s, %s):", t.rank, tier_spec(t).c_str(), t.kind.c_str());
    if (t.emulated) {
      std::printf(" emulated in a memfd, size %s, no nodes, no CPUs\n", mib_text(t.capacity_bytes).c_str());
      continue;
    }
    if (!t.dax_devices.empty()) {
      for (auto i : t.dax_devices) {
        const auto &d = topo.dax_devices()[i];
        std::printf(" %s (%s)", d.name.c_str(), to_string(d.mode));
      }
      std::printf(",");
    }
    if (t.numa_nodes.empty()) {
      std::printf(" size %s, no nodes, no CPUs\n", mib_text(t.capacity_bytes).c_str());
      continue;
    }
    std::printf(" nodes %s\n", number_list(t.numa_nodes).c_str());
    for (unsigned n : t.numa_nodes) {
      placed.push_back(n);
      const api::NodeState *s = state_of(state, n);
      const NumaNode *node = topo.node(n);
      std::printf("  node %u cpus: %s\n", n, s ? range_text(s->cpus).c_str() : "unknown");
      std::printf("  node %u size: %s\n", n,
                  mib_text(s && s->total_bytes ? s->total_bytes
                                          : std::optional<std::uint64_t>(node ? node->capacity_bytes : 0))
                      .c_str());
      std::printf("  node %u free: %s\n", n, mib_text(s ? s->free_bytes : std::nullopt).c_str());
    }
  }
  for (unsigned n : nodes)
    if (std::find(placed.begin(), placed.end(), n) == placed.end()) {
      const api::NodeState *s = state_of(state, n);
      std::printf("node %u (in no tier: it has no memory) cpus: %s\n", n,
                  s ? range_text(s->cpus).c_str() : "unknown");
    }
  // The SLIT as numactl prints it: one row a node, in node order.
  const NumaNode *first = nullptr;
  for (const auto &n : topo.nodes())
    if (!n.distances.empty()) {
      first = &n;
      break;
    }
  if (first == nullptr) {
    std::printf("node distances: unknown (no node has a distance file)\n");
    return;
  }
  std::printf("node distances:\nnode");
  for (unsigned n : first->distance_nodes) std::printf(" %3u", n);
  std::printf("\n");
  for (const auto &n : topo.nodes()) {
    if (n.distances.size() != first->distance_nodes.size()) continue;
    std::printf("%3u:", n.os_index);
    for (unsigned d : n.distances) std::printf(" %3u", d);
    std::printf("\n");
  }
}

}  // namespace

void register_hardware(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand("hardware", "show the tiers with their nodes, sizes, free memory, CPUs "
                                             "and the node distances (numactl --hardware)");
  cmd->callback([&global] {
    const Machine m = load_machine(global);
    print_hardware(m, api::node_state(DiscoverOptions{global.fsroot, global.hwloc_xml}));
  });
}

}  // namespace tiermem::cli

// The tier rule (also in the README, "How tiers are formed and ranked"):
//  1. Online nodes with memory group into one tier when they have the same kind and their
//     bandwidth and latency are within 25% of each other (unknown matches only unknown).
//  2. Tiers rank by measured performance when every tier has it (bandwidth, then latency),
//     else by kind (HBM above DRAM above CXL-DRAM above NVM/SPM), then by the kernel's
//     memory tier, then by distance from the CPUs.
//  3. A devdax device joins the tier of its target node when that node is in one; otherwise
//     its performance is unknown and the devices of that target node form their own tier,
//     ranked below every tier whose performance is known, with a note saying why.
//  4. A kmem (system-ram) device is listed in the tier of the node it backs.
#include <algorithm>
#include <cstdlib>
#include <limits>

#include "topology/sources.hpp"

namespace tiermem::topology {

namespace {

constexpr double kClose = 0.25;

bool close(const std::optional<std::uint64_t> &a, const std::optional<std::uint64_t> &b) {
  if (!a || !b) return !a && !b;
  const double hi = static_cast<double>(std::max(*a, *b));
  const double lo = static_cast<double>(std::min(*a, *b));
  return hi == 0 || (hi - lo) / hi <= kClose;
}

int kind_rank(const std::string &kind) {
  if (kind == "HBM") return 0;
  if (kind == "DRAM") return 1;
  if (kind == "CXL-DRAM") return 2;
  if (kind == "NVM" || kind == "SPM") return 3;
  if (kind == "GPUMemory") return 4;
  return 5;  // unknown
}

// Smallest SLIT distance from a node with CPUs; nodes nearer the CPUs rank first.
unsigned cpu_distance(const NumaNode &n, const std::vector<NumaNode> &all) {
  unsigned best = std::numeric_limits<unsigned>::max();
  for (std::size_t i = 0; i < n.distance_nodes.size(); ++i)
    for (const auto &m : all)
      if (m.os_index == n.distance_nodes[i] && m.has_cpus) best = std::min(best, n.distances[i]);
  return best;
}

struct Group {
  Tier tier;
  int kind_rank = 5;
  int memory_tier = std::numeric_limits<int>::max();
  unsigned distance = std::numeric_limits<unsigned>::max();
  unsigned first_node = std::numeric_limits<unsigned>::max();
};

// Worst member wins: a tier promises no more than its slowest node delivers.
void merge_perf(Tier &t, const NumaNode &n, bool first) {
  if (first) {
    t.bandwidth_mbps = n.bandwidth_mbps;
    t.latency_ns = n.latency_ns;
    return;
  }
  if (t.bandwidth_mbps && n.bandwidth_mbps) t.bandwidth_mbps = std::min(*t.bandwidth_mbps, *n.bandwidth_mbps);
  if (t.latency_ns && n.latency_ns) t.latency_ns = std::max(*t.latency_ns, *n.latency_ns);
}

}  // namespace

std::string node_kind(const NumaNode &n) {
  if (!n.subtype.empty()) return n.subtype;
  // Like the kernel's default_dram_type, a node with CPUs and no other description is DRAM.
  if (n.has_cpus) return "DRAM";
  return "unknown";
}

std::vector<Tier> rank_tiers(const std::vector<NumaNode> &nodes,
                             const std::vector<DaxDevice> &dax) {
  std::vector<Group> groups;
  for (const auto &n : nodes) {
    if (!n.online || n.capacity_bytes == 0) continue;
    const std::string kind = node_kind(n);
    Group *g = nullptr;
    for (auto &cand : groups) {
      const NumaNode *rep = nullptr;
      for (const auto &m : nodes)
        if (m.os_index == cand.tier.numa_nodes.front()) rep = &m;
      if (cand.tier.kind == kind && close(rep->bandwidth_mbps, n.bandwidth_mbps) &&
          close(rep->latency_ns, n.latency_ns) && rep->memory_tier == n.memory_tier) {
        g = &cand;
        break;
      }
    }
    if (!g) {
      groups.emplace_back();
      g = &groups.back();
      g->tier.kind = kind;
      g->kind_rank = kind_rank(kind);
      if (n.subtype.empty() && n.has_cpus)
        g->tier.note = "kind DRAM inferred: the node has CPUs and hwloc gives no subtype";
      else if (kind == "unknown")
        g->tier.note = "kind unknown: a CPU-less node and hwloc gives no subtype";
    }
    merge_perf(g->tier, n, g->tier.numa_nodes.empty());
    g->tier.numa_nodes.push_back(n.os_index);
    g->tier.capacity_bytes += n.capacity_bytes;
    g->memory_tier = std::min(g->memory_tier, n.memory_tier.value_or(std::numeric_limits<int>::max()));
    g->distance = std::min(g->distance, cpu_distance(n, nodes));
    g->first_node = std::min(g->first_node, n.os_index);
  }

  const bool all_bw = std::all_of(groups.begin(), groups.end(),
                                  [](const Group &g) { return g.tier.bandwidth_mbps.has_value(); });
  const bool all_lat = std::all_of(groups.begin(), groups.end(),
                                   [](const Group &g) { return g.tier.latency_ns.has_value(); });
  std::stable_sort(groups.begin(), groups.end(), [&](const Group &a, const Group &b) {
    if (all_bw && *a.tier.bandwidth_mbps != *b.tier.bandwidth_mbps)
      return *a.tier.bandwidth_mbps > *b.tier.bandwidth_mbps;
    if (all_lat && *a.tier.latency_ns != *b.tier.latency_ns)
      return *a.tier.latency_ns < *b.tier.latency_ns;
    if (a.kind_rank != b.kind_rank) return a.kind_rank < b.kind_rank;
    if (a.memory_tier != b.memory_tier) return a.memory_tier < b.memory_tier;
    if (a.distance != b.distance) return a.distance < b.distance;
    return a.first_node < b.first_node;
  });

  std::vector<Tier> tiers;
  for (auto &g : groups) tiers.push_back(std::move(g.tier));

  // Devices: kmem ones back their node's tier; devdax ones join it or form their own.
  std::vector<Tier> unknown;
  std::vector<std::optional<int>> unknown_target;  // the target node each unknown tier is for
  for (std::size_t i = 0; i < dax.size(); ++i) {
    const auto &d = dax[i];
    if (d.mode != DaxMode::devdax && d.mode != DaxMode::system_ram) continue;
    Tier *home = nullptr;
    if (d.target_node)
      for (auto &t : tiers)
        if (std::find(t.numa_nodes.begin(), t.numa_nodes.end(),
                      static_cast<unsigned>(*d.target_node)) != t.numa_nodes.end())
          home = &t;
    if (home) {
      home->dax_devices.push_back(i);
      if (d.mode == DaxMode::devdax) home->capacity_bytes += d.size;
      continue;
    }
    if (d.mode != DaxMode::devdax) continue;  // kmem memory of an offline node is not usable
    Tier *own = nullptr;
    for (std::size_t u = 0; u < unknown.size(); ++u)
      if (d.target_node && unknown_target[u] == d.target_node) own = &unknown[u];
    if (!own) {
      unknown.emplace_back();
      unknown_target.push_back(d.target_node);
      own = &unknown.back();
      own->kind = "unknown";
      own->note = d.target_node
                      ? "performance unknown: target node " + std::to_string(*d.target_node) +
                            " is offline, so hwloc has no memory attributes for it; ranked "
                            "below DRAM and every measured tier"
                      : "performance unknown: the kernel exports no target_node; ranked below "
                        "DRAM and every measured tier";
    }
    own->dax_devices.push_back(i);
    own->capacity_bytes += d.size;
  }
  for (auto &t : unknown) tiers.push_back(std::move(t));
  for (unsigned r = 0; r < tiers.size(); ++r) tiers[r].rank = r;
  return tiers;
}

}  // namespace tiermem::topology

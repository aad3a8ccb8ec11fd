#include "api/policy_check.hpp"

#include <algorithm>
#include <cerrno>

#include "platform/process.hpp"
#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::api {
namespace {

// What migration moves at once (migrate::EngineConfig::unit): a device must split there.
constexpr std::uint64_t kUnit = std::uint64_t{2} << 20;

void resolve_all(const policy::Policy &p, const Topology &topo) {
  if (p.kind == policy::Policy::Kind::threshold) {
    resolve_all(*p.small, topo);
    resolve_all(*p.large, topo);
    return;
  }
  if (p.kind == policy::Policy::Kind::automatic) {
    check_auto(p, topo);
    return;
  }
  for (const auto &t : p.tiers) topology::resolve_spec(topo, t.spec);
}

std::string what_it_is(const topology::TierTarget &t) {
  switch (t.source) {
    case topology::TierTarget::Source::devdax:
      return "the device " + t.dax_path;
    case topology::TierTarget::Source::emulated:
      return "an emulated tier";
    case topology::TierTarget::Source::nodes:
      break;
  }
  std::string nodes;
  for (unsigned n : t.nodes) nodes += (nodes.empty() ? "" : ",") + std::to_string(n);
  return (t.nodes.size() == 1 ? "node " : "nodes ") + nodes;
}

// The rank of the tier a target is or lies in: a node named alone ranks as its tier.
int rank_of(const topology::TierTarget &t, const Topology &topo) {
  if (t.rank >= 0 || t.source != topology::TierTarget::Source::nodes || t.nodes.empty()) return t.rank;
  const auto &tiers = topo.tiers();
  for (std::size_t i = 0; i < tiers.size(); ++i) {
    const auto &nodes = tiers[i].numa_nodes;
    if (std::find(nodes.begin(), nodes.end(), t.nodes[0]) != nodes.end()) return static_cast<int>(i);
  }
  return -1;
}

}  // namespace

std::string check_policy(std::string_view text, const Topology &topo) {
  const policy::Policy p = policy::parse(text);
  resolve_all(p, topo);
  return policy::to_string(p);
}

AutoPlan check_auto(const policy::Policy &p, const Topology &topo) {
  const std::string head = "tiermem: policy '" + policy::to_string(p) + "': ";
  const std::string &fast_spec = p.tiers[0].spec, &slow_spec = p.tiers[1].spec;
  AutoPlan plan;
  plan.budget = *p.tiers[0].limit;
  plan.fast = topology::resolve_spec(topo, fast_spec);
  plan.slow = topology::resolve_spec(topo, slow_spec);
  const auto &fast = plan.fast, &slow = plan.slow;
  using Source = topology::TierTarget::Source;
  if (fast.source != Source::nodes || fast.nodes.size() != 1)
    throw Error(-EINVAL, head + "the fast tier '" + fast_spec + "' is " + what_it_is(fast) +
                             ", not one NUMA node; name one node (e.g. node:0) as auto()'s fast tier");
  plan.fast_node = static_cast<int>(fast.nodes[0]);
  if (fast.key == slow.key)
    throw Error(-EINVAL, head + "'" + fast_spec + "' and '" + slow_spec +
                             "' are the same tier; name two different tiers");
  if (fast.node_bytes != 0 && plan.budget > fast.node_bytes)
    throw Error(-EINVAL, head + "the budget " + platform::size_text(plan.budget) +
                             " is more than the fast tier '" + fast_spec + "' holds (" +
                             platform::size_text(fast.node_bytes) + "); give a budget of at most that");
  const int fast_rank = rank_of(fast, topo), slow_rank = rank_of(slow, topo);
  if (slow_rank >= 0 && fast_rank >= 0 && slow_rank < fast_rank)
    throw Error(-EINVAL, head + "the slow tier '" + slow_spec + "' (rank " + std::to_string(slow_rank) +
                             ") is ranked faster than the fast tier '" + fast_spec + "' (rank " +
                             std::to_string(fast_rank) + "); name the faster tier first: auto(FAST<=SIZE, SLOW)");
  if (slow.source == Source::nodes) {
    if (slow.nodes.size() != 1)
      throw Error(-EINVAL, head + "the slow tier '" + slow_spec + "' is " + what_it_is(slow) +
                               "; migration moves between one slow node and the fast one: name one node");
    plan.slow_node = static_cast<int>(slow.nodes[0]);
  }
  if (slow.source == Source::devdax && slow.align > kUnit)
    throw Error(-EINVAL, head + "the device " + slow.dax_path + " maps in units of " +
                             platform::size_text(slow.align) +
                             ", more than the 2 MiB that migration moves at once; make its namespace "
                             "with --align=2M (ndctl create-namespace -m devdax --align=2M)");
  if (slow.source != Source::nodes) {
    // A unit promoted from a device or memfd is anonymous memory remapped over the file's
    // mapping: it splits that mapping, so each promoted unit may cost two more mappings
    // (docs/migration.md). The budget bounds them; the kernel's limit must leave room.
    const std::uint64_t need = 2 * ((plan.budget + kUnit - 1) / kUnit) + 1;
    constexpr std::uint64_t kDefaultMaxMapCount = 65530;  // the kernel's default: room for the program
    const auto limit = platform::max_map_count();
    const std::uint64_t have = platform::mapping_count().value_or(0);
    if (limit && have + need > *limit)
      throw Error(-EINVAL, head + "promoting up to " + platform::size_text(plan.budget) + " of '" + slow_spec +
                               "' takes up to " + std::to_string(need) +
                               " more mappings (2 per 2 MiB unit), and this process has " + std::to_string(have) +
                               " of vm.max_map_count " + std::to_string(*limit) +
                               "; raise it (sysctl -w vm.max_map_count=" + std::to_string(have + need + kDefaultMaxMapCount) +
                               ") or give a smaller budget");
  }
  return plan;
}

}  // namespace tiermem::api

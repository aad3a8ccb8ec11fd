// `tiermem show`: numactl --show in tiers. What a program started from here would run under:
// the policy tiermem's heap would read (TIERMEM_POLICY, else the default), the other TIERMEM_*
// settings as the library parses them, the kernel's memory policy and the CPUs this process
// may use (both inherited by a child), and the tiers with their nodes.
#include <numaif.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "api/machine.hpp"
#include "api/policy_check.hpp"
#include "api/settings.hpp"
#include "cli/commands.hpp"
#include "cli/machine.hpp"

extern char **environ;

namespace tiermem::cli {

namespace {

constexpr const char *kDefaultPolicy = "bind(rank:0)";

std::string kernel_policy() {
  int mode = 0;
  std::vector<unsigned long> mask(1024 / (8 * sizeof(unsigned long)), 0);
  if (::get_mempolicy(&mode, mask.data(), 1024, nullptr, 0) != 0) return "unknown";
  std::vector<unsigned> nodes;
  for (unsigned n = 0; n < 1024; ++n)
    if (mask[n / (8 * sizeof(unsigned long))] >> (n % (8 * sizeof(unsigned long))) & 1) nodes.push_back(n);
  const char *name = mode == MPOL_DEFAULT      ? "default (local allocation)"
                     : mode == MPOL_BIND       ? "bind"
                     : mode == MPOL_PREFERRED  ? "preferred"
                     : mode == MPOL_INTERLEAVE ? "interleave"
                     : mode == 4               ? "local"
                     : mode == 5               ? "preferred-many"
                                               : "other";
  std::string s = name;
  if (mode != MPOL_DEFAULT && mode != 4 && !nodes.empty()) s += ", nodes " + range_text(nodes);
  return s;
}

void show(const Global &g) {
  const Machine m = load_machine(g);
  const char *env = ::secure_getenv("TIERMEM_POLICY");
  const bool given = env != nullptr && *env != '\0';
  const std::string text = given ? env : kDefaultPolicy;
  std::string canonical;
  try {
    canonical = api::check_policy(text, m.topo);
  } catch (const Error &e) {
    std::string why = e.what();
    if (why.rfind("tiermem: ", 0) == 0) why = why.substr(9);
    std::fprintf(stderr, "tiermem show: %s: %s\n",
                 given ? ("TIERMEM_POLICY='" + text + "'").c_str() : "the default policy", why.c_str());
    throw Exit{2};
  }
  std::printf("policy: %s (%s)\n", canonical.c_str(),
              given ? "TIERMEM_POLICY" : "the default; TIERMEM_POLICY is unset");
  // Parsed by the library's own readers: a value the heap would refuse is refused here.
  const bool stats = api::env_stats();
  const auto log = api::env_log_level();
  const auto decay = api::env_decay_ms();
  std::printf("statistics at exit: %s (TIERMEM_STATS)\n", stats ? "on" : "off");
  std::printf("messages: %s (TIERMEM_LOG)\n",
              log == api::LogLevel::quiet ? "quiet" : log == api::LogLevel::info ? "info" : "error");
  std::printf("decay: %s (TIERMEM_DECAY_MS)\n",
              decay ? (std::to_string(*decay) + " ms").c_str()
                    : "unset: 0 under the preload library, else jemalloc's 10 s");
  const auto thp = api::env_thp();
  std::printf("huge pages on node tiers: %s (TIERMEM_THP)\n",
              thp ? (*thp ? "on (MADV_HUGEPAGE)" : "off (MADV_NOHUGEPAGE)") : "the kernel's default");
  const auto interval = api::env_migrate_interval_ms();
  const auto rate = api::env_migrate_rate();
  const auto cpu = api::env_migrate_cpu();
  std::printf("migration interval: %s (TIERMEM_MIGRATE_INTERVAL_MS)\n",
              interval ? (std::to_string(*interval) + " ms").c_str() : "500 ms, the default");
  std::printf("migration rate: %s (TIERMEM_MIGRATE_RATE)\n",
              rate ? (std::to_string(*rate) + " bytes/s").c_str() : "256 MiB/s, the default");
  char share[32];
  std::snprintf(share, sizeof share, "%g of one core", cpu ? *cpu : 0.03);
  std::printf("migration CPU budget: %s%s (TIERMEM_MIGRATE_CPU)\n", share, cpu ? "" : ", the default");
  std::vector<std::string> vars;
  for (char **e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::string_view(*e).substr(0, 8) == "TIERMEM_") vars.emplace_back(*e);
  std::sort(vars.begin(), vars.end());
  std::printf("environment:%s\n", vars.empty() ? " no TIERMEM_* variable is set" : "");
  for (const auto &v : vars) std::printf("  %s\n", v.c_str());
  std::printf("kernel policy: %s\n", kernel_policy().c_str());
  const auto cpus = allowed_cpus();
  const auto state = api::node_state(DiscoverOptions{g.fsroot, g.hwloc_xml});
  std::vector<unsigned> cpu_nodes;
  for (const auto &n : state)
    if (std::any_of(n.cpus.begin(), n.cpus.end(),
                    [&](unsigned c) { return std::find(cpus.begin(), cpus.end(), c) != cpus.end(); }))
      cpu_nodes.push_back(n.node);
  std::printf("cpus: %s\n", range_text(cpus).c_str());
  std::printf("cpu nodes: %s\n", range_text(cpu_nodes).c_str());
  std::printf("tiers:%s\n", m.topo.tiers().empty() ? " none known" : "");
  for (const auto &t : m.topo.tiers()) {
    std::printf("  tier %u (%s, %s): ", t.rank, tier_spec(t).c_str(), t.kind.c_str());
    if (t.numa_nodes.empty()) {
      std::printf("%s\n", t.emulated ? "emulated in a memfd, no nodes" : "no nodes");
      continue;
    }
    std::vector<unsigned> tier_cpus;
    for (const auto &n : state)
      if (std::find(t.numa_nodes.begin(), t.numa_nodes.end(), n.node) != t.numa_nodes.end())
        tier_cpus.insert(tier_cpus.end(), n.cpus.begin(), n.cpus.end());
    std::sort(tier_cpus.begin(), tier_cpus.end());
    std::printf("nodes %s, cpus %s\n", range_text(t.numa_nodes).c_str(), range_text(tier_cpus).c_str());
  }
  if (!m.why_unknown.empty()) std::printf("note: %s\n", m.why_unknown.c_str());
}

}  // namespace

void register_show(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand("show", "show the policy, settings, CPUs and tiers a program started "
                                         "here would run under (numactl --show)");
  cmd->callback([&global] { show(global); });
}

}  // namespace tiermem::cli

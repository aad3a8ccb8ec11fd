// `tiermem run`: a numactl-style launcher. Policies the kernel can express on NUMA nodes are
// set with set_mempolicy() in the child before exec (so static binaries and mmap-heavy
// programs such as PostgreSQL follow them); devdax tiers, emulated tiers and size-based or
// weighted policies need tiermem's heap, so the child runs under libtiermem_preload.so.
#include <numa.h>
#include <numaif.h>
#include <signal.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <algorithm>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "api/machine.hpp"
#include "api/policy_check.hpp"
#include "api/settings.hpp"
#include "cli/commands.hpp"
#include "cli/machine.hpp"
#include "tiermem/tiermem.h"
#include "tiermem/topology.hpp"

#ifndef MPOL_LOCAL
#define MPOL_LOCAL 4
#endif
#ifndef MPOL_PREFERRED_MANY
#define MPOL_PREFERRED_MANY 5
#endif

// libnuma reports bad node strings on stderr through these weak hooks; the launcher says it
// itself, in one line, so they stay quiet here.
extern "C" void numa_warn(int, char *, ...) {}
extern "C" void numa_error(char *) {}

namespace tiermem::cli {

namespace {

struct RunOptions {
  std::string membind, preferred, interleave, weights, threshold, automatic, policy;
  std::string cpunodebind, physcpubind;
  bool localalloc = false;
  bool stats = false;
  bool dry_run = false;
  bool python_malloc = false;
  std::vector<std::string> command;
  // Given at all, even as "--membind=" (CLI11 then takes the next word, often "--").
  CLI::Option *membind_opt = nullptr, *preferred_opt = nullptr, *interleave_opt = nullptr,
              *weights_opt = nullptr, *threshold_opt = nullptr, *auto_opt = nullptr,
              *policy_opt = nullptr,
              *cpunodebind_opt = nullptr, *physcpubind_opt = nullptr;
};

[[noreturn]] void bad_input(const std::string &line) {
  std::fprintf(stderr, "tiermem run: %s\n", line.c_str());
  throw Exit{2};
}

// A library message without its "tiermem: " prefix, to follow "tiermem run: FLAG: ".
std::string reason(const std::exception &e) {
  std::string why = e.what();
  return why.rfind("tiermem: ", 0) == 0 ? why.substr(9) : why;
}

// What the user wrote, for messages: "--weights=rank:0=0", or where the policy came from.
struct Flag {
  std::string label;
  [[noreturn]] void refuse(const std::string &why) const { bad_input(label + ": " + why); }
};

// Every piece, empty ones included ("a,,b" is three): a flag's empty term is refused by name.
std::vector<std::string> split(const std::string &s, char sep) {
  std::vector<std::string> out;
  for (std::size_t start = 0;;) {
    const std::size_t end = s.find(sep, start);
    out.push_back(s.substr(start, end == std::string::npos ? std::string::npos : end - start));
    if (end == std::string::npos) return out;
    start = end + 1;
  }
}

std::string join(const std::vector<std::string> &v, const char *sep) {
  std::string s;
  for (const auto &x : v) s += (s.empty() ? "" : sep) + x;
  return s;
}

bool all_digits(const std::string &s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// numactl's node syntax ("0-3,5", "all", "!2", "+1"), as opposed to tier names ("rank:1").
bool is_node_list(const std::string &s) {
  static const std::regex re("^(all|[!+]?[0-9][0-9,\\-]*)$");
  return std::regex_match(s, re);
}

// numactl's syntax on a recorded machine, against its online nodes ("+N", relative to this
// process's cpuset, means nothing there). nullopt when a node is missing or the text is bad.
std::optional<std::vector<unsigned>> recorded_nodes(const std::string &s, const Topology &topo) {
  std::vector<unsigned> online;
  for (const auto &n : topo.nodes())
    if (n.online) online.push_back(n.os_index);
  if (s == "all") return online;
  bool invert = !s.empty() && s[0] == '!';
  std::vector<unsigned> picked;
  for (const auto &range : split(invert ? s.substr(1) : s, ',')) {
    auto dash = range.find('-');
    std::string lo = range.substr(0, dash), hi = dash == std::string::npos ? lo : range.substr(dash + 1);
    if (!all_digits(lo) || !all_digits(hi) || lo.size() > 6 || hi.size() > 6) return std::nullopt;
    for (unsigned n = std::stoul(lo); n <= std::stoul(hi); ++n) {
      if (std::find(online.begin(), online.end(), n) == online.end()) return std::nullopt;
      picked.push_back(n);
    }
  }
  if (!invert) return picked;
  std::vector<unsigned> rest;
  for (unsigned n : online)
    if (std::find(picked.begin(), picked.end(), n) == picked.end()) rest.push_back(n);
  return rest;
}

std::vector<unsigned> parse_nodes(const std::string &s, const Flag &flag, const std::string &whole,
                                  const Machine &m) {
  std::optional<std::vector<unsigned>> nodes;
  if (m.recorded) {
    nodes = recorded_nodes(s, m.topo);
  } else if (struct bitmask *mask = numa_parse_nodestring(s.c_str())) {
    nodes.emplace();
    for (unsigned n = 0; n < mask->size; ++n)
      if (numa_bitmask_isbitset(mask, n)) nodes->push_back(n);
    numa_bitmask_free(mask);
  }
  if (!nodes || nodes->empty()) {
    std::string why = (s == whole ? std::string() : "'" + s + "' is ") +
                      "not a node list this machine has (see `tiermem list`)";
    // A bare number is a NUMA node to numactl users, a tier to those who read `tiermem list`.
    if (all_digits(s) && s.size() < 6 && std::stoul(s) < m.topo.tiers().size())
      why += "; did you mean rank:" + s + " (tier " + s + ")?";
    flag.refuse(why);
  }
  return *nodes;
}

// A tier term the kernel can serve: its NUMA nodes; nullopt when only tiermem's heap can.
std::optional<std::vector<unsigned>> kernel_nodes(const std::string &spec, const Flag &flag,
                                                  const Machine &m) {
  try {
    auto t = api::resolve_on(m.topo, spec, m.why_unknown);
    if (t.source != api::TierTarget::Source::nodes) return std::nullopt;
    return t.nodes;
  } catch (const Error &e) {
    flag.refuse(reason(e));
  }
}

// Node numbers become node:N terms so that the heap's grammar can carry them; a whole value
// may be a numactl node list ("0-2"), or a list of tier names and node numbers.
std::vector<std::string> terms(const std::string &value, const Flag &flag, const Machine &m) {
  std::vector<std::string> out;
  auto add_nodes = [&](const std::string &list) {
    for (unsigned n : parse_nodes(list, flag, value, m)) out.push_back("node:" + std::to_string(n));
  };
  if (is_node_list(value)) {
    add_nodes(value);
    return out;
  }
  for (const auto &p : split(value, ',')) {
    if (p.empty()) flag.refuse("an empty tier name");
    if (is_node_list(p)) add_nodes(p);
    else out.push_back(p);
  }
  return out;
}

struct Plan {
  bool kernel = false;  // set_mempolicy + exec; else the preload library
  int mode = 0;
  std::vector<unsigned> nodes;
  std::string policy;   // TIERMEM_POLICY for the preload library
  Flag flag;            // where the policy came from, for messages
};

std::string mode_name(int mode) {
  switch (mode) {
    case MPOL_BIND: return "MPOL_BIND";
    case MPOL_PREFERRED: return "MPOL_PREFERRED";
    case MPOL_PREFERRED_MANY: return "MPOL_PREFERRED_MANY";
    case MPOL_INTERLEAVE: return "MPOL_INTERLEAVE";
    case MPOL_LOCAL: return "MPOL_LOCAL";
  }
  return std::to_string(mode);
}

// All terms kernel-servable: the union of their nodes; else nullopt. Every term is resolved,
// so a missing tier is refused even after one the kernel cannot serve.
std::optional<std::vector<unsigned>> all_kernel(const std::vector<std::string> &t, const Flag &flag,
                                                const Machine &m) {
  std::vector<unsigned> nodes;
  bool kernel = true;
  for (const auto &spec : t) {
    auto n = kernel_nodes(spec, flag, m);
    if (!n) kernel = false;
    else
      for (unsigned x : *n)
        if (std::find(nodes.begin(), nodes.end(), x) == nodes.end()) nodes.push_back(x);
  }
  if (!kernel) return std::nullopt;
  std::sort(nodes.begin(), nodes.end());
  return nodes;
}

Plan make_plan(const RunOptions &o, const Machine &m) {
  const std::pair<CLI::Option *, const std::string *> given[] = {
      {o.membind_opt, &o.membind},     {o.preferred_opt, &o.preferred},
      {o.interleave_opt, &o.interleave}, {o.weights_opt, &o.weights},
      {o.threshold_opt, &o.threshold}, {o.auto_opt, &o.automatic}, {o.policy_opt, &o.policy}};
  int chosen = o.localalloc ? 1 : 0;
  for (const auto &[opt, value] : given) {
    if (opt == nullptr || opt->count() == 0) continue;
    ++chosen;
    if (value->empty() || (*value)[0] == '-')  // "--membind=" took the next word
      bad_input(opt->get_name() + " needs a node list or a tier, e.g. " + opt->get_name() +
                (opt == o.weights_opt     ? "=rank:0=3,rank:1=1"
                 : opt == o.threshold_opt ? "=64K,rank:0,rank:1"
                 : opt == o.auto_opt      ? "=rank:0<=1G,rank:1"
                                          : "=rank:0") +
                " (see `tiermem list`)");
  }
  if (chosen > 1)
    bad_input("give one of --membind, --preferred, --interleave, --localalloc, --weights, "
              "--threshold, --auto, --policy");
  Plan plan;
  if (o.localalloc) {
    // The first-touch default, said out loud: a TIERMEM_POLICY of the user's own is not used.
    plan.kernel = true;
    plan.mode = MPOL_LOCAL;
    plan.flag.label = "--localalloc";
    return plan;
  }
  if (chosen == 0) {
    // The user's own TIERMEM_POLICY is what the program would have read without the launcher.
    const char *env = ::secure_getenv("TIERMEM_POLICY");
    plan.policy = env && *env ? env : "bind(rank:0)";
    plan.flag.label = env && *env ? "TIERMEM_POLICY='" + plan.policy + "'" : "the default policy bind(rank:0)";
    return plan;
  }
  if (!o.membind.empty()) {
    Flag flag{"--membind=" + o.membind};
    auto t = terms(o.membind, flag, m);
    if (auto nodes = all_kernel(t, flag, m)) {
      plan = {true, MPOL_BIND, *nodes, "", flag};
    } else if (t.size() == 1) {
      plan.policy = "bind(" + t[0] + ")";
    } else {
      flag.refuse("several tiers bind together only when all are NUMA nodes; use --preferred=" +
                  o.membind + " (in that order) or --interleave");
    }
    plan.flag = flag;
  } else if (!o.preferred.empty()) {
    Flag flag{"--preferred=" + o.preferred};
    auto t = terms(o.preferred, flag, m);
    auto nodes = all_kernel(t, flag, m);
    if (nodes && t.size() == 1)
      plan = {true, nodes->size() == 1 ? MPOL_PREFERRED : MPOL_PREFERRED_MANY, *nodes, "", flag};
    else plan.policy = "preferred(" + join(t, ", ") + ")";  // an order the kernel cannot keep
    plan.flag = flag;
  } else if (!o.interleave.empty()) {
    Flag flag{"--interleave=" + o.interleave};
    auto t = terms(o.interleave, flag, m);
    if (auto nodes = all_kernel(t, flag, m)) plan = {true, MPOL_INTERLEAVE, *nodes, "", flag};
    else plan.policy = "interleave(" + join(t, ", ") + ")";
    plan.flag = flag;
  } else if (!o.weights.empty()) {
    Flag flag{"--weights=" + o.weights};
    std::vector<std::string> w;
    for (const auto &item : split(o.weights, ',')) {
      auto eq = item.rfind('=');
      if (eq == std::string::npos || eq == 0)
        flag.refuse("'" + item + "' is not TIER=WEIGHT (e.g. rank:0=3,rank:1=1)");
      std::string who = item.substr(0, eq);
      if (is_node_list(who)) who = "node:" + who;
      w.push_back(who + "=" + item.substr(eq + 1));
    }
    plan.policy = "weighted(" + join(w, ", ") + ")";
    plan.flag = flag;
  } else if (!o.threshold.empty()) {
    Flag flag{"--threshold=" + o.threshold};
    auto parts = split(o.threshold, ',');
    if (parts.size() != 3 || parts[0].empty())
      flag.refuse("expected SIZE,SMALL,LARGE (e.g. 64K,rank:0,rank:1)");
    auto small = terms(parts[1], flag, m), large = terms(parts[2], flag, m);
    if (small.size() != 1 || large.size() != 1)
      flag.refuse("SMALL and LARGE are one tier or node each");
    plan.policy = "threshold(" + parts[0] + ", " + small[0] + ", " + large[0] + ")";
    plan.flag = flag;
  } else if (!o.automatic.empty()) {
    Flag flag{"--auto=" + o.automatic};
    auto parts = split(o.automatic, ',');
    const auto le = parts[0].find("<=");
    if (parts.size() != 2 || le == std::string::npos || le == 0 || le + 2 == parts[0].size())
      flag.refuse("expected FAST<=SIZE,SLOW (e.g. rank:0<=1G,rank:1): the fast tier, how much of "
                  "the program's memory it may hold, and the slow tier");
    auto fast = terms(parts[0].substr(0, le), flag, m), slow = terms(parts[1], flag, m);
    if (fast.size() != 1 || slow.size() != 1) flag.refuse("FAST and SLOW are one tier or node each");
    plan.policy = "auto(" + fast[0] + "<=" + parts[0].substr(le + 2) + ", " + slow[0] + ")";
    plan.flag = flag;
  } else {
    plan.policy = o.policy;
    plan.flag.label = "--policy=" + o.policy;
  }
  return plan;
}

std::string preload_library() {
  if (const char *env = ::secure_getenv("TIERMEM_PRELOAD_LIB")) {
    if (!std::filesystem::exists(env))
      bad_input(std::string("TIERMEM_PRELOAD_LIB=") + env + " does not exist; fix or unset it");
    return env;
  }
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  auto dir = exe.parent_path();
  const std::filesystem::path candidates[] = {
      dir / TIERMEM_BIN_TO_LIB / "libtiermem_preload.so",  // installed: bin/ -> lib/
      dir / ".." / "preload" / "libtiermem_preload.so",    // build tree: src/cli -> src/preload
  };
  for (const auto &c : candidates)
    if (std::filesystem::exists(c, ec)) return std::filesystem::weakly_canonical(c, ec).string();
  bad_input("libtiermem_preload.so is not installed next to " + exe.string() + " (looked in " +
            candidates[0].string() + " and " + candidates[1].string() + "); set TIERMEM_PRELOAD_LIB");
}

std::string quoted(const std::vector<std::string> &cmd) {
  std::string s;
  for (const auto &a : cmd) {
    bool plain = !a.empty() && a.find_first_of(" \t'\"\\$`*?;&|<>()") == std::string::npos;
    s += (s.empty() ? "" : " ") + (plain ? a : "'" + a + "'");
  }
  return s;
}

std::string node_text(const std::vector<unsigned> &nodes) {
  std::vector<std::string> v;
  for (unsigned n : nodes) v.push_back(std::to_string(n));
  return join(v, ",");
}

// The nodes whose CPUs include every one of `cpus`, and the state of all nodes.
std::vector<unsigned> nodes_of_cpus(const std::vector<unsigned> &cpus,
                                    const std::vector<api::NodeState> &state) {
  std::vector<unsigned> nodes;
  for (const auto &n : state)
    for (unsigned c : cpus)
      if (std::find(n.cpus.begin(), n.cpus.end(), c) != n.cpus.end()) {
        nodes.push_back(n.node);
        break;
      }
  return nodes;
}

// -N/--cpunodebind or -C/--physcpubind: the CPUs the child is confined to; empty for none.
// A recorded machine's CPUs are its own; this machine's are those this process may use.
std::vector<unsigned> plan_cpus(const RunOptions &o, const Machine &m, const Global &g) {
  const bool by_node = o.cpunodebind_opt->count() > 0, by_cpu = o.physcpubind_opt->count() > 0;
  if (!by_node && !by_cpu) return {};
  if (by_node && by_cpu) bad_input("give one of --cpunodebind, --physcpubind");
  const auto state = api::node_state(DiscoverOptions{g.fsroot, g.hwloc_xml});
  if (state.empty())
    bad_input(std::string(by_node ? "--cpunodebind" : "--physcpubind") +
              " needs the nodes' CPU lists, which an hwloc XML does not record; use --fsroot");
  std::vector<unsigned> every;
  for (const auto &n : state) every.insert(every.end(), n.cpus.begin(), n.cpus.end());
  std::sort(every.begin(), every.end());
  const std::vector<unsigned> usable = m.recorded ? every : allowed_cpus();
  std::vector<unsigned> cpus;
  if (by_cpu) {
    Flag flag{"--physcpubind=" + o.physcpubind};
    auto picked = parse_cpu_list(o.physcpubind, usable);
    if (!picked || picked->empty())
      flag.refuse("not a CPU list of CPUs this process may use (" + range_text(usable) +
                  "), e.g. 0-3,5 (see `tiermem show`)");
    return *picked;
  }
  Flag flag{"--cpunodebind=" + o.cpunodebind};
  if (o.cpunodebind.empty() || o.cpunodebind[0] == '-')
    bad_input("--cpunodebind needs a node list or a tier, e.g. --cpunodebind=rank:0 (see `tiermem hardware`)");
  for (const auto &spec : terms(o.cpunodebind, flag, m)) {
    auto nodes = kernel_nodes(spec, flag, m);
    if (!nodes)
      flag.refuse("tier '" + spec + "' has no CPUs (it is not made of NUMA nodes); pick a tier "
                  "with CPUs (see `tiermem hardware`)");
    std::vector<unsigned> mine;
    for (const auto &n : state)
      if (std::find(nodes->begin(), nodes->end(), n.node) != nodes->end())
        mine.insert(mine.end(), n.cpus.begin(), n.cpus.end());
    const std::string what = spec.rfind("node:", 0) == 0 ? "node " + spec.substr(5) : "tier '" + spec + "'";
    if (mine.empty())
      flag.refuse(what + " has no CPUs (nodes " + node_text(*nodes) + " are memory only); pick a "
                  "tier with CPUs (see `tiermem hardware`)");
    for (unsigned c : mine)
      if (std::find(usable.begin(), usable.end(), c) != usable.end() &&
          std::find(cpus.begin(), cpus.end(), c) == cpus.end())
        cpus.push_back(c);
    if (cpus.empty())
      flag.refuse("none of the CPUs of " + what + " (" + range_text(mine) + ") may be used by this "
                  "process (its cpuset allows " + range_text(usable) + ")");
  }
  std::sort(cpus.begin(), cpus.end());
  return cpus;
}

pid_t g_child = -1;
void forward(int sig) {
  if (g_child > 0) ::kill(g_child, sig);
}

int run(const RunOptions &o, const Global &g) {
  if (!g.hwloc_xml.empty() && !o.dry_run)
    bad_input("--hwloc-xml describes a machine the program's heap cannot read; use it with "
              "--dry-run, or --fsroot with a recorded machine");
  const Machine machine = load_machine(g);
  Plan plan = make_plan(o, machine);
  const std::vector<unsigned> cpus = plan_cpus(o, machine, g);
  // CPython's pymalloc serves objects up to 512 bytes from arenas it maps itself, so most of
  // a Python program's memory never reaches malloc, hence never the tier; said, never silent.
  if (o.python_malloc)
    std::fprintf(stderr, "tiermem run: --python-malloc: the child runs with PYTHONMALLOC=malloc\n");
  if (o.stats && plan.kernel && plan.mode == MPOL_LOCAL) {
    // The heap has no "local" policy: the tier of the one node the program runs on is it.
    const auto state = api::node_state(DiscoverOptions{g.fsroot, g.hwloc_xml});
    const auto nodes = nodes_of_cpus(cpus.empty() ? allowed_cpus() : cpus, state);
    if (nodes.size() != 1)
      bad_input("--localalloc with --stats needs the program on the CPUs of one node (now nodes " +
                node_text(nodes) + "); add --cpunodebind=NODE");
    plan.mode = MPOL_PREFERRED;
    plan.nodes = nodes;
  }
  if (o.stats && plan.kernel) {
    // The statistics come from tiermem's heap, so the program runs under it on the same nodes.
    plan.policy = (plan.mode == MPOL_INTERLEAVE ? "interleave(" : plan.mode == MPOL_BIND ? "bind(" : "preferred(");
    std::vector<std::string> t;
    for (unsigned n : plan.nodes) t.push_back("node:" + std::to_string(n));
    if (plan.mode == MPOL_BIND && t.size() > 1)
      bad_input("--stats with --membind over several nodes is not supported; bind to one tier");
    plan.policy += join(t, ", ") + ")";
    plan.kernel = false;
  }
  std::string preload, ld_preload;
  if (!plan.kernel) {
    // Refused here, exit 2, naming the flag, rather than by the program's heap after exec.
    try {
      api::check_policy(plan.policy, machine.topo);
    } catch (const Error &e) {
      plan.flag.refuse(reason(e));
    }
    // What the preload library will read, parsed by the same functions it uses.
    try {
      api::env_log_level();
      api::env_decay_ms();
      api::env_thp();
      if (!o.stats) api::env_stats();
    } catch (const Error &e) {
      bad_input(reason(e));
    }
    preload = preload_library();
    const char *old = std::getenv("LD_PRELOAD");
    ld_preload = old && *old ? std::string(old) + ":" + preload : preload;
  }
  if (o.dry_run) {
    const std::string affinity = cpus.empty() ? "" : "sched_setaffinity(cpus " + range_text(cpus) + ")";
    if (plan.kernel)
      std::printf("tiermem run: would %sset_mempolicy(%s%s) and exec: %s\n",
                  affinity.empty() ? "" : (affinity + ", ").c_str(), mode_name(plan.mode).c_str(),
                  plan.mode == MPOL_LOCAL ? "" : (", nodes " + node_text(plan.nodes)).c_str(),
                  quoted(o.command).c_str());
    else
      std::printf("tiermem run: would %sexec with LD_PRELOAD=%s TIERMEM_POLICY='%s'%s: %s\n",
                  affinity.empty() ? "" : (affinity + " and ").c_str(), ld_preload.c_str(),
                  plan.policy.c_str(), o.stats ? " TIERMEM_STATS=1" : "", quoted(o.command).c_str());
    return 0;
  }

  std::vector<char *> argv;
  for (const auto &a : o.command) argv.push_back(const_cast<char *>(a.c_str()));
  argv.push_back(nullptr);
  std::fflush(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    std::fprintf(stderr, "tiermem run: fork: %s\n", std::strerror(errno));
    return 1;
  }
  if (pid == 0) {
    if (!cpus.empty()) {
      cpu_set_t set;
      CPU_ZERO(&set);
      for (unsigned c : cpus)
        if (c < CPU_SETSIZE) CPU_SET(c, &set);
      if (::sched_setaffinity(0, sizeof set, &set) != 0) {
        std::fprintf(stderr, "tiermem run: sched_setaffinity(cpus %s): %s; are the CPUs online and allowed?\n",
                     range_text(cpus).c_str(), std::strerror(errno));
        ::_exit(2);
      }
    }
    if (plan.kernel && plan.mode == MPOL_LOCAL) {
      if (::set_mempolicy(MPOL_LOCAL, nullptr, 0) != 0) {
        std::fprintf(stderr, "tiermem run: set_mempolicy(MPOL_LOCAL): %s\n", std::strerror(errno));
        ::_exit(2);
      }
    } else if (plan.kernel) {
      std::vector<unsigned long> mask(1024 / (8 * sizeof(unsigned long)), 0);
      for (unsigned n : plan.nodes) mask[n / (8 * sizeof(unsigned long))] |= 1UL << (n % (8 * sizeof(unsigned long)));
      if (::set_mempolicy(plan.mode, mask.data(), 1024 + 1) != 0) {
        std::fprintf(stderr, "tiermem run: set_mempolicy(%s, nodes %s): %s; are the nodes online and allowed?\n",
                     mode_name(plan.mode).c_str(), node_text(plan.nodes).c_str(), std::strerror(errno));
        ::_exit(2);  // bad input, as the launcher's own refusals; 126 is for a program not executable
      }
    } else {
      ::setenv("LD_PRELOAD", ld_preload.c_str(), 1);
      ::setenv("TIERMEM_POLICY", plan.policy.c_str(), 1);
      if (o.stats) ::setenv("TIERMEM_STATS", "1", 1);
    }
    // The child's heap discovers the machine the launcher resolved the policy on.
    if (!g.fsroot.empty()) ::setenv("TIERMEM_FSROOT", g.fsroot.c_str(), 1);
    if (o.python_malloc) ::setenv("PYTHONMALLOC", "malloc", 1);
    ::execvp(argv[0], argv.data());
    int err = errno;
    std::fprintf(stderr, "tiermem run: cannot run '%s': %s\n", argv[0], std::strerror(err));
    ::_exit(err == ENOENT ? 127 : 126);
  }
  // Like system(): the terminal's ^C and ^\ reach the child directly; a TERM or HUP sent to the
  // launcher is passed on, so the child's own status is what comes back.
  g_child = pid;
  ::signal(SIGINT, SIG_IGN);
  ::signal(SIGQUIT, SIG_IGN);
  ::signal(SIGTERM, forward);
  ::signal(SIGHUP, forward);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return WEXITSTATUS(status);
}

}  // namespace

void register_run(CLI::App &app, Global &global) {
  auto o = std::make_shared<RunOptions>();
  auto *cmd = app.add_subcommand("run", "run a program with its memory on tiers (numactl-style)");
  o->membind_opt = cmd->add_option("-m,--membind", o->membind, "only these nodes or this tier (numactl list or tier name)")
      ->type_name("NODES|TIER");
  o->preferred_opt = cmd->add_option("-p,--preferred", o->preferred, "prefer these, falling back in order")
      ->type_name("NODES|TIER[,TIER...]");
  o->interleave_opt = cmd->add_option("-i,--interleave", o->interleave, "interleave pages (or blocks) across these")
      ->type_name("NODES|TIER[,TIER...]");
  cmd->add_flag("-l,--localalloc", o->localalloc,
                "allocate on the node of the CPU that runs (the first-touch default, said out loud)");
  o->cpunodebind_opt = cmd->add_option("-N,--cpunodebind", o->cpunodebind,
                                       "run on the CPUs of these nodes or tiers (sched_setaffinity)")
      ->type_name("NODES|TIER[,TIER...]");
  o->physcpubind_opt = cmd->add_option("-C,--physcpubind", o->physcpubind, "run on these CPUs, e.g. 0-3,5")
      ->type_name("CPUS");
  o->weights_opt = cmd->add_option("--weights", o->weights, "split bytes by weight, e.g. rank:0=3,rank:1=1")
      ->type_name("TIER=W,...");
  o->threshold_opt = cmd->add_option("--threshold", o->threshold, "small blocks on one tier, large on another")
      ->type_name("SIZE,SMALL,LARGE");
  o->auto_opt = cmd->add_option("--auto", o->automatic,
                                 "hot data on FAST (at most SIZE of it), the rest on SLOW, moved as "
                                 "the program runs")
      ->type_name("FAST<=SIZE,SLOW");
  o->policy_opt = cmd->add_option("--policy", o->policy, "any policy in tiermem's grammar (see README)")
      ->type_name("TEXT");
  cmd->add_flag("--stats", o->stats, "print per-tier statistics when the program exits");
  cmd->add_flag("--dry-run", o->dry_run, "print what would be done, run nothing");
  cmd->add_flag("--python-malloc", o->python_malloc,
                "set PYTHONMALLOC=malloc, so that Python's small objects reach the tiers too");
  // As numactl: the first word that is no option starts the program, whose own options follow.
  cmd->positionals_at_end();
  cmd->add_option("command", o->command,
                  "the program and its arguments (from the first word that is no option, or after --)")
      ->required()
      ->allow_extra_args();
  cmd->callback([o, &global] {
    throw Exit{run(*o, global)};
  });
}

}  // namespace tiermem::cli

// `tiermem list`: the tiers at a glance, or the JSON document other tools rely on.
#include <algorithm>
#include <cstdio>
#include <string>
#include <vector>

#include "api/machine.hpp"
#include "cli/commands.hpp"
#include "tiermem/topology.hpp"

namespace tiermem::cli {

namespace {

std::string human_bytes(std::uint64_t b) {
  const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

std::string join(const std::vector<unsigned> &v) {
  std::string s;
  for (unsigned x : v) s += (s.empty() ? "" : ",") + std::to_string(x);
  return s.empty() ? "-" : s;
}

template <class T>
std::string or_unknown(const std::optional<T> &v, const char *unit) {
  return v ? std::to_string(*v) + unit : "unknown";
}

void print_table(const Topology &topo) {
  struct Row {
    std::string rank, kind, nodes, devs, cap, bw, lat;
  };
  std::vector<Row> rows{{"TIER", "KIND", "NODES", "DAX DEVICES (MODE)", "CAPACITY", "BANDWIDTH", "LATENCY"}};
  for (const auto &t : topo.tiers()) {
    std::string devs;
    for (auto i : t.dax_devices) {
      const auto &d = topo.dax_devices()[i];
      devs += (devs.empty() ? "" : " ") + d.name + "(" + to_string(d.mode) + ")";
    }
    if (t.emulated) devs = "emulated:" + t.emulated_name;
    rows.push_back({std::to_string(t.rank), t.kind, join(t.numa_nodes), devs.empty() ? "-" : devs,
                    human_bytes(t.capacity_bytes), or_unknown(t.bandwidth_mbps, " MiB/s"),
                    or_unknown(t.latency_ns, " ns")});
  }
  std::size_t w[7] = {};
  for (const auto &r : rows) {
    const std::string *f[7] = {&r.rank, &r.kind, &r.nodes, &r.devs, &r.cap, &r.bw, &r.lat};
    for (int i = 0; i < 7; ++i) w[i] = std::max(w[i], f[i]->size());
  }
  for (const auto &r : rows)
    std::printf("%-*s  %-*s  %-*s  %-*s  %*s  %*s  %*s\n", int(w[0]), r.rank.c_str(), int(w[1]),
                r.kind.c_str(), int(w[2]), r.nodes.c_str(), int(w[3]), r.devs.c_str(), int(w[4]),
                r.cap.c_str(), int(w[5]), r.bw.c_str(), int(w[6]), r.lat.c_str());
  bool blank = false;
  auto line = [&](const std::string &text) {
    if (!blank) std::printf("\n");
    blank = true;
    std::printf("%s\n", text.c_str());
  };
  for (const auto &t : topo.tiers())
    if (!t.note.empty()) line("tier " + std::to_string(t.rank) + ": " + t.note);
  for (std::size_t i = 0; i < topo.dax_devices().size(); ++i) {
    bool placed = false;
    for (const auto &t : topo.tiers())
      for (auto j : t.dax_devices) placed = placed || j == i;
    if (placed) continue;
    const auto &d = topo.dax_devices()[i];
    std::string why = d.mode == DaxMode::system_ram
                          ? "its memory is not online (target node " +
                                (d.target_node ? std::to_string(*d.target_node) : "?") + " is offline)"
                          : d.driver.empty() ? "no driver is bound" : "bound to driver " + d.driver;
    line("not in a tier: " + d.name + " (" + to_string(d.mode) + "): " + why);
  }
}

}  // namespace

void register_list(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand("list", "show the memory tiers, NUMA nodes and dax devices");
  auto json = std::make_shared<bool>(false);
  cmd->add_flag("--json", *json, "print the JSON document (stable keys) instead of a table");
  cmd->callback([&global, json] {
    DiscoverOptions o{global.fsroot, global.hwloc_xml};
    Topology topo = api::discover_machine(o);  // with the TIERMEM_EMULATE tiers, as the heap sees them
    if (*json) std::printf("%s\n", topo.to_json(2).c_str());
    else print_table(topo);
  });
}

}  // namespace tiermem::cli

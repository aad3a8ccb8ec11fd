// `tiermem stat PID`: a running program's memory by tier, as numastat -p shows it by node.
// The kernel's view comes first and always: pages per node from /proc/PID/numa_maps, summed
// over each node tier's nodes; emulated tiers are tiermem's memfds ("/memfd:tiermem-NAME")
// and devdax tiers the mappings of /dev/daxX.Y in /proc/PID/maps. The heap's own view
// (per-tier live bytes, peak, failures) is what a process under libtiermem_preload.so or
// linking libtiermem publishes (heap/publish.hpp); a process that publishes nothing is shown
// from the kernel's view alone, and the output says so.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/published_stats.hpp"
#include "cli/commands.hpp"
#include "cli/machine.hpp"

namespace tiermem::cli {

namespace {

[[noreturn]] void refuse(const std::string &line) {
  std::fprintf(stderr, "tiermem stat: %s\n", line.c_str());
  throw Exit{2};
}

// What the kernel says the process has, before it is put in tiers.
struct KernelView {
  std::map<unsigned, std::uint64_t> node_bytes;         // pages on each node, not memfd or dax
  std::map<std::string, std::uint64_t> emulated_bytes;  // resident pages of memfd:tiermem-NAME
  std::map<std::string, std::uint64_t> dax_bytes;       // mapped bytes of /dev/daxX.Y, by path
};

const char kMemfd[] = "/memfd:tiermem-";

// Reads the file, or refuses naming it: a process that vanished, or someone else's.
std::string read_proc(long pid, const char *leaf) {
  const std::string path = "/proc/" + std::to_string(pid) + "/" + leaf;
  std::ifstream in(path);
  std::ostringstream text;
  text << in.rdbuf();
  if (!in || in.bad()) {
    int err = errno;
    refuse("cannot read " + path + ": " + std::strerror(err) +
           (err == EACCES ? "; run as the process's user or as root" : ""));
  }
  return text.str();
}

KernelView read_kernel_view(long pid) {
  KernelView v;
  std::istringstream numa(read_proc(pid, "numa_maps"));
  std::string line;
  while (std::getline(numa, line)) {
    std::istringstream words(line);
    std::string w, file;
    std::uint64_t page = 4096;
    std::map<unsigned, std::uint64_t> pages;
    while (words >> w) {
      if (w.rfind("file=", 0) == 0) file = w.substr(5);
      else if (w.rfind("kernelpagesize_kB=", 0) == 0) page = std::stoull(w.substr(18)) * 1024;
      else if (w.size() > 2 && w[0] == 'N' && w.find('=') != std::string::npos &&
               std::isdigit(static_cast<unsigned char>(w[1])))
        pages[static_cast<unsigned>(std::stoul(w.substr(1)))] += std::stoull(w.substr(w.find('=') + 1));
    }
    std::uint64_t total = 0;
    for (const auto &[n, p] : pages) total += p * page;
    if (file.rfind(kMemfd, 0) == 0) {
      // numa_maps escapes the space of " (deleted)" as \040.
      std::string name = file.substr(sizeof kMemfd - 1);
      name = name.substr(0, name.find('\\'));
      v.emulated_bytes[name] += total;
    } else if (file.rfind("/dev/", 0) == 0) {
      continue;  // a device's memory is no node's page cache or anonymous memory
    } else {
      for (const auto &[n, p] : pages) v.node_bytes[n] += p * page;
    }
  }
  std::istringstream maps(read_proc(pid, "maps"));
  while (std::getline(maps, line)) {
    std::istringstream f(line);
    std::string range, perms, offset, dev, inode, path;
    if (!(f >> range >> perms >> offset >> dev >> inode >> path) || path.rfind("/dev/dax", 0) != 0) continue;
    const auto dash = range.find('-');
    const std::uint64_t lo = std::stoull(range.substr(0, dash), nullptr, 16);
    const std::uint64_t hi = std::stoull(range.substr(dash + 1), nullptr, 16);
    v.dax_bytes[path] += hi - lo;
  }
  return v;
}

struct Row {
  std::string tier, kind;
  std::uint64_t bytes = 0;
  nlohmann::json nodes = nlohmann::json::array(), devices = nlohmann::json::array();
  std::string measure;  // "resident" (pages) or "mapped" (a device's mapping)
};

std::vector<Row> rows_by_tier(const Machine &m, KernelView v) {
  std::vector<Row> rows;
  for (const auto &t : m.topo.tiers()) {
    Row r{tier_spec(t), t.kind, 0, nlohmann::json::array(), nlohmann::json::array(), "resident"};
    if (t.emulated) {
      r.bytes = v.emulated_bytes[t.emulated_name];
      v.emulated_bytes.erase(t.emulated_name);
    } else {
      for (unsigned n : t.numa_nodes) {
        r.nodes.push_back(n);
        r.bytes += v.node_bytes[n];
        v.node_bytes.erase(n);
      }
      for (auto i : t.dax_devices) {
        const auto &d = m.topo.dax_devices()[i];
        if (d.mode != DaxMode::devdax) continue;
        r.devices.push_back(d.name);
        if (auto it = v.dax_bytes.find(d.path); it != v.dax_bytes.end()) {
          r.bytes += it->second;
          r.measure = "mapped";
          v.dax_bytes.erase(it);
        }
      }
    }
    rows.push_back(std::move(r));
  }
  // Memory the process has where this machine's tiers (or this TIERMEM_EMULATE) say nothing.
  for (const auto &[n, b] : v.node_bytes)
    if (b > 0) rows.push_back({"node:" + std::to_string(n), "unknown", b, nlohmann::json::array({n}), nlohmann::json::array(), "resident"});
  for (const auto &[name, b] : v.emulated_bytes)
    rows.push_back({"emulated:" + name, "emulated", b,
                    nlohmann::json::array(), nlohmann::json::array(), "resident"});
  for (const auto &[path, b] : v.dax_bytes)
    rows.push_back({"dax:" + path.substr(5), "unknown", b, nlohmann::json::array(),
                    nlohmann::json::array({path.substr(5)}), "mapped"});
  return rows;
}

std::string command_of(long pid) {
  std::string comm = read_proc(pid, "comm");
  if (!comm.empty() && comm.back() == '\n') comm.pop_back();
  return comm;
}

nlohmann::json document(long pid, const Machine &m) {
  nlohmann::json doc;
  doc["pid"] = pid;
  doc["command"] = command_of(pid);
  auto &kernel = doc["tiers"] = nlohmann::json::array();
  for (const auto &r : rows_by_tier(m, read_kernel_view(pid)))
    kernel.push_back({{"tier", r.tier}, {"kind", r.kind}, {"nodes", r.nodes}, {"devices", r.devices},
                      {"bytes", r.bytes}, {"measure", r.measure}});
  std::string why;
  if (auto heap = api::read_published_heap(pid, why)) {
    auto tiers = nlohmann::json::array();
    for (const auto &t : heap->tiers)
      tiers.push_back({{"name", t.name}, {"kind", t.kind},
                       {"rank", t.rank < 0 ? nlohmann::json(nullptr) : nlohmann::json(t.rank)},
                       {"capacity", t.capacity}, {"mapped", t.mapped},
                       {"live", t.live < 0 ? 0 : t.live}, {"peak", t.peak},
                       {"failures", t.failures}, {"fallbacks", t.fallbacks}});
    doc["heap"] = {{"tiers", tiers}};
    doc["heap_note"] = nullptr;
  } else {
    doc["heap"] = nullptr;
    doc["heap_note"] = why;
  }
  return doc;
}

void print_text(const nlohmann::json &doc) {
  std::printf("pid %ld (%s): memory by tier, the kernel's view\n", doc["pid"].get<long>(),
              doc["command"].get<std::string>().c_str());
  std::printf("  %-16s %-9s %-24s %12s\n", "TIER", "KIND", "WHERE", "BYTES");
  for (const auto &r : doc["tiers"]) {
    std::string where;
    for (const auto &n : r["nodes"]) where += (where.empty() ? "nodes " : ",") + std::to_string(n.get<unsigned>());
    for (const auto &d : r["devices"]) where += (where.empty() ? "" : " ") + d.get<std::string>();
    if (r["kind"] == "emulated") where = "memfd";
    std::printf("  %-16s %-9s %-24s %12s%s\n", r["tier"].get<std::string>().c_str(),
                r["kind"].get<std::string>().c_str(), where.c_str(),
                mib_text(r["bytes"].get<std::uint64_t>()).c_str(), r["measure"] == "mapped" ? " mapped" : "");
  }
  if (doc["heap"].is_null()) {
    std::printf("heap statistics: none: %s; shown from the kernel's view alone\n",
                doc["heap_note"].get<std::string>().c_str());
    return;
  }
  std::printf("heap statistics, published by the process's tiermem heap\n");
  std::printf("  %-16s %-9s %12s %12s %12s %9s %9s\n", "TIER", "KIND", "LIVE", "PEAK", "MAPPED",
              "FAILURES", "FALLBACKS");
  for (const auto &t : doc["heap"]["tiers"])
    std::printf("  %-16s %-9s %12s %12s %12s %9llu %9llu\n", t["name"].get<std::string>().c_str(),
                t["kind"].get<std::string>().c_str(), mib_text(t["live"].get<std::uint64_t>()).c_str(),
                mib_text(t["peak"].get<std::uint64_t>()).c_str(), mib_text(t["mapped"].get<std::uint64_t>()).c_str(),
                static_cast<unsigned long long>(t["failures"].get<std::uint64_t>()),
                static_cast<unsigned long long>(t["fallbacks"].get<std::uint64_t>()));
}

long parse_pid(const std::string &text) {
  if (text.empty() || text.size() > 9 || !std::all_of(text.begin(), text.end(), ::isdigit) || std::stol(text) <= 0)
    refuse("'" + text + "' is not a process id (see ps)");
  const long pid = std::stol(text);
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) refuse("no process " + text + " (see ps)");
  return pid;
}

// Running, not a zombie its parent has yet to reap (whose maps read empty).
bool alive(long pid) {
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno != EPERM) return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = text.rfind(')');
  return close != std::string::npos && close + 2 < text.size() && text[close + 2] != 'Z' && text[close + 2] != 'X';
}

}  // namespace

void register_stat(CLI::App &app, Global &global) {
  auto *cmd = app.add_subcommand("stat", "show a running program's memory by tier (numastat -p in tiers)");
  struct Options {
    std::string pid, watch;
    bool json = false;
    CLI::Option *watch_opt = nullptr;
  };
  auto o = std::make_shared<Options>();
  cmd->add_option("PID", o->pid, "the process to look at")->required();
  cmd->add_flag("--json", o->json, "print the JSON document (stable keys); with --watch, one a line");
  o->watch_opt = cmd->add_option("--watch", o->watch, "refresh every SECONDS (default 1) until the "
                                                      "process exits or Ctrl-C")
                     ->expected(0, 1)
                     ->type_name("[=SECONDS]");
  cmd->callback([o, &global] {
    const long pid = parse_pid(o->pid);
    double every = 0;
    if (o->watch_opt->count() > 0) {
      every = 1;
      if (!o->watch.empty()) {
        char *end = nullptr;
        every = std::strtod(o->watch.c_str(), &end);
        if (end == o->watch.c_str() || *end != '\0' || !(every >= 0.1 && every <= 86400))
          refuse("--watch=" + o->watch + ": not a number of seconds from 0.1 to 86400");
      }
    }
    const Machine m = load_machine(global);
    for (bool first = true;; first = false) {
      if (!first) {
        std::this_thread::sleep_for(std::chrono::duration<double>(every));
        if (!alive(pid)) {
          std::fprintf(stderr, "tiermem stat: process %ld has exited\n", pid);
          return;
        }
      }
      const auto doc = document(pid, m);
      if (o->json) std::printf("%s\n", doc.dump(every > 0 ? -1 : 2).c_str());
      else {
        if (!first) std::printf("\n");
        print_text(doc);
      }
      std::fflush(stdout);
      if (every == 0) return;
    }
  });
}

}  // namespace tiermem::cli

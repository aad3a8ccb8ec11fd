#include "topology/hwloc_cache.hpp"

#include <fcntl.h>
#include <sys/auxv.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <stdexcept>
#include <nlohmann/json.hpp>

#include "platform/raii.hpp"
#include "platform/text.hpp"
#include "topology/env.hpp"
#include "topology/hwloc_lib.hpp"

extern char **environ;

namespace tiermem::topology {
namespace {

constexpr int kFormat = 1;

struct Place {
  std::string dir, file, key;
};

std::optional<std::string> default_dir() {
  if (const char *x = ::secure_getenv("XDG_RUNTIME_DIR"); x != nullptr && x[0] == '/')
    return std::string(x) + "/tiermem";
  if (::geteuid() == 0) return std::string("/run/tiermem");
  return "/tmp/tiermem-" + std::to_string(::geteuid());
}

// Only a directory of the user's own that nobody else may write: a cache that others could
// write would let them choose what this process believes the machine to be.
bool own_dir(const std::string &dir) {
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) return false;
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return false;
  return S_ISDIR(st.st_mode) && st.st_uid == ::geteuid() && (st.st_mode & 022) == 0;
}

// A fact of the key: the file's text, "-" when absent, "?" when unreadable (so that a file
// that becomes readable changes the key).
std::string fact(const platform::SysfsRoot &root, const std::string &rel) {
  try {
    return root.read_optional(rel).value_or("-");
  } catch (const std::exception &) {
    return "?";
  }
}

std::string hwloc_environment() {
  std::vector<std::string> vars;
  for (char **e = environ; e != nullptr && *e != nullptr; ++e)
    if (std::string_view(*e).substr(0, 6) == "HWLOC_") vars.emplace_back(*e);
  std::sort(vars.begin(), vars.end());
  std::string out;
  for (const auto &v : vars) out += v + "\n";
  return out;
}

std::optional<Place> place(const platform::SysfsRoot &root) {
  if (::getauxval(AT_SECURE) != 0) return std::nullopt;  // set-id: trust nothing the user wrote
  const env::CacheDir where = env::cache_dir();
  if (where.off) return std::nullopt;
  std::optional<std::string> boot;
  try {
    boot = root.read_optional("proc/sys/kernel/random/boot_id");
  } catch (const std::exception &) {
  }
  if (!boot || boot->empty()) return std::nullopt;  // no boot to tie the answer to
  Place p;
  p.key = "tiermem hwloc cache " + std::to_string(kFormat) + "\nhwloc " +
          std::string(TIERMEM_HWLOC_SONAME) + " " + std::to_string(HWLOC_API_VERSION) + "\nroot " + root.root() + "\nboot " + *boot +
          "\nnodes " + fact(root, "sys/devices/system/node/online") + "\nmemory " +
          fact(root, "sys/devices/system/node/has_memory") + "\ncpus " +
          fact(root, "sys/devices/system/cpu/online") + "\n" + hwloc_environment();
  std::optional<std::string> dir = runtime_dir();
  if (!dir) return std::nullopt;
  p.dir = *dir;
  char name[40];
  std::snprintf(name, sizeof name, "/hwloc-%016zx.json", std::hash<std::string>{}(p.key));
  p.file = p.dir + name;
  return p;
}

template <class T>
nlohmann::json opt(const std::optional<T> &v) {
  return v ? nlohmann::json(*v) : nlohmann::json(nullptr);
}

// A number the cache wrote: an unsigned integer up to `max`. json's get<> would convert a
// float (undefined behaviour when out of range) or wrap a negative number instead.
std::uint64_t count(const nlohmann::json &j, std::uint64_t max = UINT64_MAX) {
  if (!j.is_number_unsigned() || j.get<std::uint64_t>() > max)
    throw std::out_of_range("not an unsigned integer in range");
  return j.get<std::uint64_t>();
}

std::optional<std::uint64_t> opt_u64(const nlohmann::json &j) {
  if (j.is_null()) return std::nullopt;
  return count(j);
}

std::optional<std::vector<HwlocNode>> load(const Place &p) {
  int err = 0;
  auto text = platform::read_file(p.file, err);
  if (!text) return std::nullopt;
  return parse_hwloc_cache(*text, p.key);
}

void store(const Place &p, const std::vector<HwlocNode> &nodes) {
  std::string text;
  try {
    text = format_hwloc_cache(p.key, nodes);
  } catch (const std::exception &) {
    return;  // a root path or subtype that is not UTF-8: not cached, so never altered
  }
  // Written whole, then renamed: a process reading concurrently sees the old file or the new.
  std::string tmp = p.dir + "/.hwloc-XXXXXX";
  platform::UniqueFd fd(::mkstemp(tmp.data()));
  if (!fd) return;
  bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = fd.close() == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), p.file.c_str()) != 0) ::unlink(tmp.c_str());
}

}  // namespace

std::optional<std::vector<HwlocNode>> parse_hwloc_cache(std::string_view text,
                                                        std::string_view key) {
  try {
    const auto doc = nlohmann::json::parse(text);
    if (doc.at("key").get<std::string>() != key) return std::nullopt;  // another state
    std::vector<HwlocNode> nodes;
    for (const auto &j : doc.at("nodes")) {
      HwlocNode n;
      n.os_index = static_cast<unsigned>(count(j.at("os_index"), UINT_MAX));
      n.subtype = j.at("subtype").get<std::string>();
      n.capacity_bytes = count(j.at("capacity_bytes"));
      n.has_cpus_guess = j.at("has_cpus_guess").get<bool>();
      n.bandwidth_mbps = opt_u64(j.at("bandwidth_mbps"));
      n.latency_ns = opt_u64(j.at("latency_ns"));
      nodes.push_back(std::move(n));
    }
    return nodes;
  } catch (const std::exception &) {
    return std::nullopt;  // damaged: discovered afresh and written again
  }
}

std::string format_hwloc_cache(std::string_view key, const std::vector<HwlocNode> &nodes) {
  nlohmann::json list = nlohmann::json::array();
  for (const auto &n : nodes)
    list.push_back({{"os_index", n.os_index},
                    {"subtype", n.subtype},
                    {"capacity_bytes", n.capacity_bytes},
                    {"has_cpus_guess", n.has_cpus_guess},
                    {"bandwidth_mbps", opt(n.bandwidth_mbps)},
                    {"latency_ns", opt(n.latency_ns)}});
  return nlohmann::json{{"key", key}, {"nodes", list}}.dump() + "\n";
}

std::optional<std::string> runtime_dir() {
  if (::getauxval(AT_SECURE) != 0) return std::nullopt;  // set-id: trust nothing the user wrote
  const env::CacheDir where = env::cache_dir();
  if (where.off) return std::nullopt;
  std::optional<std::string> dir = where.dir ? where.dir : default_dir();
  if (!dir || !own_dir(*dir)) return std::nullopt;
  return dir;
}

std::optional<std::string> hwloc_cache_file(const platform::SysfsRoot &root) {
  auto p = place(root);
  return p ? std::optional<std::string>(p->file) : std::nullopt;
}

std::vector<HwlocNode> read_hwloc_cached(const platform::SysfsRoot &root) {
  const auto p = place(root);
  if (p) {
    if (auto nodes = load(*p)) return std::move(*nodes);
  }
  auto nodes = read_hwloc_fsroot(root.root());
  if (p) store(*p, nodes);
  return nodes;
}

}  // namespace tiermem::topology

#include "cli/machine.hpp"

#include <sched.h>

#include <algorithm>

#include "api/machine.hpp"
#include "api/settings.hpp"

namespace tiermem::cli {

Machine load_machine(const Global &g) {
  Machine m;
  m.recorded = !g.fsroot.empty() || !g.hwloc_xml.empty() || api::env_fsroot().has_value();
  try {
    m.topo = Topology::discover(DiscoverOptions{g.fsroot, g.hwloc_xml});
  } catch (const std::exception &e) {
    if (m.recorded) throw;  // the user named that machine: not finding it is the answer
    m.why_unknown = e.what();
  }
  api::add_emulated_tiers(m.topo);  // throws naming TIERMEM_EMULATE, as list and the heap do
  return m;
}

std::string range_text(const std::vector<unsigned> &cpus) {
  std::string s;
  for (std::size_t i = 0; i < cpus.size();) {
    std::size_t j = i;
    while (j + 1 < cpus.size() && cpus[j + 1] == cpus[j] + 1) ++j;
    s += (s.empty() ? "" : ",") + std::to_string(cpus[i]);
    if (j > i) s += "-" + std::to_string(cpus[j]);
    i = j + 1;
  }
  return s.empty() ? "-" : s;
}

namespace {

std::optional<unsigned> number(const std::string &s) {
  if (s.empty() || s.size() > 6 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return static_cast<unsigned>(std::stoul(s));
}

}  // namespace

std::optional<std::vector<unsigned>> parse_cpu_list(const std::string &text,
                                                    const std::vector<unsigned> &available) {
  if (text == "all") return available;
  const bool invert = !text.empty() && text[0] == '!';
  std::vector<unsigned> picked;
  std::string rest = invert ? text.substr(1) : text;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = rest.find(',', start);
    std::string range = rest.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    std::size_t dash = range.find('-');
    auto lo = number(range.substr(0, dash));
    auto hi = dash == std::string::npos ? lo : number(range.substr(dash + 1));
    if (!lo || !hi || *hi < *lo) return std::nullopt;
    for (unsigned c = *lo; c <= *hi; ++c) {
      if (std::find(available.begin(), available.end(), c) == available.end()) return std::nullopt;
      picked.push_back(c);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<unsigned> out;
  for (unsigned c : available)
    if ((std::find(picked.begin(), picked.end(), c) != picked.end()) != invert) out.push_back(c);
  return out;
}

std::string mib_text(std::optional<std::uint64_t> bytes) {
  return bytes ? std::to_string(*bytes >> 20) + " MiB" : "unknown";
}

std::vector<unsigned> allowed_cpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  std::vector<unsigned> out;
  if (::sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (unsigned c = 0; c < CPU_SETSIZE; ++c)
    if (CPU_ISSET(c, &set)) out.push_back(c);
  return out;
}

std::string tier_spec(const Tier &t) {
  return t.emulated ? "emulated:" + t.emulated_name : "rank:" + std::to_string(t.rank);
}

}  // namespace tiermem::cli

#include "topology/emulate.hpp"

#include <cerrno>
#include <cstdlib>
#include <optional>

#include "platform/text.hpp"

namespace tiermem::topology {
namespace {

Error bad_emulate(std::string_view text, const std::string &why) {
  return Error(-EINVAL, "tiermem: TIERMEM_EMULATE='" + std::string(text) + "': " + why +
                            "; expected NAME:SIZE[,NAME:SIZE...], e.g. slow:1G");
}

}  // namespace

std::vector<EmulatedTierSpec> parse_emulate(std::string_view text) {
  std::vector<EmulatedTierSpec> out;
  if (text.empty()) return out;
  std::size_t pos = 0;
  for (;;) {
    std::size_t comma = text.find(',', pos);
    std::string_view item = text.substr(pos, comma == std::string_view::npos ? text.npos
                                                                            : comma - pos);
    std::size_t colon = item.find(':');
    if (colon == std::string_view::npos) {
      throw bad_emulate(text, "'" + std::string(item) + "' has no ':SIZE'");
    }
    std::string name(item.substr(0, colon));
    if (name.empty() || name.size() > 32) {
      throw bad_emulate(text, "'" + std::string(item) + "' needs a name of 1 to 32 characters");
    }
    for (char c : name) {
      bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '_' || c == '-';
      if (!ok) throw bad_emulate(text, "name '" + name + "' may use only letters, digits, _ and -");
    }
    for (const auto &e : out) {
      if (e.name == name) throw bad_emulate(text, "name '" + name + "' appears twice");
    }
    const std::string_view size_str = item.substr(colon + 1);
    const char *why = "";
    const std::optional<std::uint64_t> size = platform::try_parse_size(size_str, why);
    const std::string cap = platform::size_text(kMaxEmulatedBytes) +
                            " an emulated tier may hold (use at most " +
                            std::to_string(kMaxEmulatedBytes >> 40) + "T)";
    if (!size && std::string_view(why) == "too large")
      throw bad_emulate(text, "tier '" + name + "' asks for more than the " + cap);
    if (!size) throw bad_emulate(text, "'" + std::string(size_str) + "' is not a size");
    if (*size == 0) throw bad_emulate(text, "tier '" + name + "' has size 0");
    if (*size > kMaxEmulatedBytes)
      throw bad_emulate(text, "tier '" + name + "' asks for " + platform::size_text(*size) +
                                  ", more than the " + cap);
    out.push_back({std::move(name), *size});
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return out;
}

void append_emulated(Topology &topology, const std::vector<EmulatedTierSpec> &specs) {
  for (const auto &s : specs) {
    Tier t;
    t.kind = "emulated";
    t.capacity_bytes = s.size;
    t.emulated = true;
    t.emulated_name = s.name;
    t.note = "emulated by TIERMEM_EMULATE: a memfd-backed stand-in in ordinary RAM, "
             "not real tiered memory";
    topology.append_tier(std::move(t));
  }
}

void apply_emulate_env(Topology &topology) {
  const char *env = ::secure_getenv("TIERMEM_EMULATE");
  if (env == nullptr || *env == '\0') return;
  append_emulated(topology, parse_emulate(env));
}

}  // namespace tiermem::topology

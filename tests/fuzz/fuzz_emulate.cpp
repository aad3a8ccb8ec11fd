// TIERMEM_EMULATE: every text is parsed or refused with a one-line error; what parses names
// valid, distinct tiers of 1 byte to 4 TiB that resolve as emulated:NAME. The same text through
// the environment is accepted or refused alike.
#include <cstdlib>

#include "fuzz.hpp"
#include "topology/emulate.hpp"
#include "topology/spec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem::topology;
  const std::string_view text = fuzz::text(data, size);
  std::vector<EmulatedTierSpec> specs;
  bool ok = true;
  try {
    specs = parse_emulate(text);
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, text);
    ok = false;
  }
  if (ok) {
    tiermem::Topology topo = tiermem::Topology::from_parts({}, {});
    append_emulated(topo, specs);
    FUZZ_CHECK(topo.tiers().size() == specs.size());
    for (const auto &s : specs) {
      FUZZ_CHECK(!s.name.empty() && s.name.size() <= 32);
      FUZZ_CHECK(s.size >= 1 && s.size <= kMaxEmulatedBytes);
      const TierTarget t = resolve_spec(topo, "emulated:" + s.name);
      FUZZ_CHECK(t.size == s.size && t.emulated_name == s.name);
    }
  }
  if (text.find('\0') == std::string_view::npos) {
    ::setenv("TIERMEM_EMULATE", std::string(text).c_str(), 1);
    tiermem::Topology topo = tiermem::Topology::from_parts({}, {});
    bool env_ok = true;
    try {
      apply_emulate_env(topo);
    } catch (const tiermem::Error &) {
      env_ok = false;
    }
    FUZZ_CHECK(env_ok == ok);
    if (ok) FUZZ_CHECK(topo.tiers().size() == specs.size());
    ::unsetenv("TIERMEM_EMULATE");
  }
  return 0;
}

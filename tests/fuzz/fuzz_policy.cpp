// The policy grammar (TIERMEM_POLICY, tm_policy_parse, tiermem run --policy): every text is
// parsed or refused with a one-line error, nests at most 16 thresholds deep, and what parses
// prints back to itself.
#include <algorithm>

#include "fuzz.hpp"
#include "policy/policy.hpp"

namespace {

int depth(const tiermem::policy::Policy &p) {
  if (p.kind != tiermem::policy::Policy::Kind::threshold) return 0;
  return 1 + std::max(depth(*p.small), depth(*p.large));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  using namespace tiermem::policy;
  const std::string_view text = fuzz::text(data, size);
  Policy p;
  try {
    p = parse(text);
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, text);
    return 0;
  }
  // Nesting is bounded: each level is a stack frame of the parser, to_string and Selector.
  FUZZ_CHECK(depth(p) <= 16);
  const std::string canonical = to_string(p);
  FUZZ_CHECK(to_string(parse(canonical)) == canonical);
  // Bound to stand-in handles, every request gets at least one tier and never too many.
  int handles[16];
  std::size_t next = 0;
  Selector s(home_policy(p), [&](const TierTerm &) -> void * { return &handles[next++ % 16]; });
  void *out[16];
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{4096}, std::size_t{1} << 40}) {
    const std::size_t k = s.candidates(n, out, 16);
    FUZZ_CHECK(k >= 1 && k <= 16);
  }
  return 0;
}

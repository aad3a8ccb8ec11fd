#include "api/policy_check.hpp"

#include "policy/policy.hpp"
#include "topology/spec.hpp"

namespace tiermem::api {
namespace {

void resolve_all(const policy::Policy &p, const Topology &topo) {
  if (p.kind == policy::Policy::Kind::threshold) {
    resolve_all(*p.small, topo);
    resolve_all(*p.large, topo);
    return;
  }
  for (const auto &t : p.tiers) topology::resolve_spec(topo, t.spec);
}

}  // namespace

std::string check_policy(std::string_view text, const Topology &topo) {
  const policy::Policy p = policy::parse(text);
  resolve_all(p, topo);
  return policy::to_string(p);
}

}  // namespace tiermem::api

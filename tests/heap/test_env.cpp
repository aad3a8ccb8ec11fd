// Runs before main(), hence before the heap's lazy start: the tiers these tests rely on.
#include <cstdlib>

namespace {
const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "slow:256M,tiny:16M,side:64M,pa:64M,pb:64M", 1);
  setenv("TIERMEM_POLICY", "emulated:slow", 1);
  return 0;
}();
}  // namespace

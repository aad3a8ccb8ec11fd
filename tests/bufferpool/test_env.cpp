// Runs before main(), hence before the heap's lazy start: the tiers these tests use.
#include <cstdlib>

namespace {
const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "fast:64M,slow:256M", 1);
  return 0;
}();
}  // namespace

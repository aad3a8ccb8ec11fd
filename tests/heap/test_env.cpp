// Runs before main(), hence before the heap's lazy start: the tiers these tests rely on.
#include <cstdlib>

namespace {
const int kEnv = [] {
  setenv("TIERMEM_EMULATE", "slow:256M,tiny:16M,side:64M,pa:64M,pb:64M,live:64M,nil:64M,lim:64M,zero:64M,cxx:64M,peak:256M,grow:128M,hand:64M,relay:64M,autox:64M,autoy:64M,autoz:64M,fullx:16M,decay:128M,decayenv:16M,meta:4G", 1);
  // Every program takes it, not only the preload library (test_decay.cpp); 1 ms more than
  // jemalloc's default, so that it shows.
  setenv("TIERMEM_DECAY_MS", "10001", 1);
  setenv("TIERMEM_POLICY", "emulated:slow", 1);
  return 0;
}();
}  // namespace

#if defined(__SANITIZE_THREAD__)
// jemalloc's fork handler holds every mutex of every arena at once (that is how it keeps the
// child consistent); ThreadSanitizer's deadlock detector tracks at most 64 held locks per
// thread and aborts past that. Races are still detected; only the lock-order graph is off.
extern "C" const char *__tsan_default_options() { return "detect_deadlocks=0"; }
#endif

// exp(), log() and round() for the private jemalloc (see rename_jemalloc.cmake): its heap profiling is
// the only caller, and tiermem never enables it, so libm is looked up (and loaded, if the
// program has not loaded it) at the first call instead of being a dependency of every process
// that loads tiermem.
#include <dlfcn.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace {

using MathFn = double (*)(double);

[[gnu::cold, noreturn]] void no_libm(const char *name) {
  const char *why = ::dlerror();
  static const char kHead[] = "tiermem: cannot find libm's ";
  static const char kTail[] = " for jemalloc's heap profiling; install libc6 or leave profiling off\n";
  (void)!::write(STDERR_FILENO, kHead, sizeof kHead - 1);
  (void)!::write(STDERR_FILENO, name, std::strlen(name));
  if (why != nullptr) {
    (void)!::write(STDERR_FILENO, " (", 2);
    (void)!::write(STDERR_FILENO, why, std::strlen(why));
    (void)!::write(STDERR_FILENO, ")", 1);
  }
  (void)!::write(STDERR_FILENO, kTail, sizeof kTail - 1);
  std::abort();
}

MathFn resolve(std::atomic<MathFn> &slot, const char *name) {
  MathFn f = slot.load(std::memory_order_acquire);
  if (f != nullptr) return f;
  void *sym = ::dlsym(RTLD_DEFAULT, name);
  if (sym == nullptr) {
    // Kept loaded for the rest of the process, as a NEEDED libm would be.
    void *lib = ::dlopen("libm.so.6", RTLD_NOW | RTLD_LOCAL);
    if (lib != nullptr) sym = ::dlsym(lib, name);
  }
  if (sym == nullptr) no_libm(name);
  f = reinterpret_cast<MathFn>(sym);
  slot.store(f, std::memory_order_release);
  return f;
}

std::atomic<MathFn> g_exp{nullptr};
std::atomic<MathFn> g_log{nullptr};
std::atomic<MathFn> g_round{nullptr};

}  // namespace

extern "C" {
double tmje_libm_exp(double x) { return resolve(g_exp, "exp")(x); }
double tmje_libm_log(double x) { return resolve(g_log, "log")(x); }
double tmje_libm_round(double x) { return resolve(g_round, "round")(x); }
}

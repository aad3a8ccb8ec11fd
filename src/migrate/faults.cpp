#include "migrate/faults.hpp"

#include <signal.h>

#include <mutex>

#include "platform/signal.hpp"

namespace tiermem::migrate {
namespace {

constinit platform::SignalChain g_chain;
std::mutex g_install;

// Async-signal-safe: the fence table's lookup uses atomics and futex only.
void on_sigsegv(int sig, siginfo_t *info, void *ctx) {
  if (platform::sent_by_kernel(info) && info->si_code == SEGV_ACCERR) {
    const auto a = reinterpret_cast<std::uintptr_t>(info->si_addr);
    if (fence_fault(a)) return;  // the access is retried
  }
  g_chain.forward(sig, info, ctx);
}

}  // namespace

int install_fault_handler() noexcept {
  std::lock_guard<std::mutex> lock(g_install);
  return g_chain.install(SIGSEGV, on_sigsegv);
}

}  // namespace tiermem::migrate

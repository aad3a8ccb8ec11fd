#include "api/machine.hpp"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <new>

#include "heap/slots.hpp"
#include "topology/emulate.hpp"

namespace tiermem::api {
namespace {

// TIERMEM_EMULATE's cap is stated to users as the largest tier the heap can hold.
static_assert(std::uint64_t{1} << heap::kMaxSlotShift == topology::kMaxEmulatedBytes);

std::atomic<const Machine *> g_machine{nullptr};  // immortal once published
std::mutex g_mu;                                  // taken only until then

void child_after_fork() {
  // A thread that vanished in the fork may have held the lock while discovering.
  new (&g_mu) std::mutex();
}

pthread_once_t g_fork_once = PTHREAD_ONCE_INIT;
void register_fork_handler() { pthread_atfork(nullptr, nullptr, child_after_fork); }

// Neither jemalloc nor the slots are touched: a caller that only checks specs (the preload
// library at load, before the program allocates anything) pays for no heap.
std::unique_ptr<Machine> discover() {
  auto m = std::make_unique<Machine>();
  try {
    m->topo = Topology::discover();
  } catch (const Error &e) {
    m->why_unknown = e.what();
  } catch (const std::exception &e) {
    m->why_unknown = std::string("tiermem: topology discovery failed: ") + e.what();
  }
  topology::apply_emulate_env(m->topo);  // throws on a malformed TIERMEM_EMULATE
  for (const auto &t : m->topo.tiers())
    m->largest_tier = std::max<std::uint64_t>(m->largest_tier, t.capacity_bytes);
  return m;
}

}  // namespace

const Machine &machine() {
  if (const Machine *m = g_machine.load(std::memory_order_acquire)) return *m;
  pthread_once(&g_fork_once, register_fork_handler);
  std::lock_guard<std::mutex> lock(g_mu);
  if (const Machine *m = g_machine.load(std::memory_order_relaxed)) return *m;
  const Machine *m = discover().release();
  g_machine.store(m, std::memory_order_release);
  return *m;
}

TierTarget resolve(std::string_view spec) {
  const Machine &m = machine();
  return topology::resolve_spec(m.topo, spec, m.why_unknown);
}

TierTarget resolve_on(const Topology &topo, std::string_view spec, const std::string &why_unknown) {
  return topology::resolve_spec(topo, spec, why_unknown);
}

void add_emulated_tiers(Topology &topo) { topology::apply_emulate_env(topo); }

std::vector<NodeState> node_state(const DiscoverOptions &options) {
  return topology::node_state(options);
}

}  // namespace tiermem::api

namespace tiermem::api {

Topology discover_machine(const DiscoverOptions &options) {
  Topology topo = Topology::discover(options);
  add_emulated_tiers(topo);
  return topo;
}

}  // namespace tiermem::api

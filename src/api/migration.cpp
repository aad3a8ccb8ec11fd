#include "api/migration.hpp"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <atomic>
#include <mutex>
#include <string>
#include <vector>

#include "api/error.hpp"
#include "api/settings.hpp"
#include "heap/heap.hpp"
#include "platform/text.hpp"
#include "tiermem/heap.h"

namespace tiermem::api {
namespace {

struct State {
  std::mutex mu;  // everything below but `active`; never held by the engine's thread
  migrate::Engine engine;
  bool started = false;  // the engine was configured and started once (in `pid`)
  bool paused = false;   // tm_migrate_pause(): not running until resumed
  // The process that started it; its children move nothing. Atomic: read without `mu`, which
  // a child may inherit held by a thread that stayed in the parent.
  std::atomic<pid_t> pid{0};
  tm_tier *fast = nullptr;
  int fast_node = -1;
  std::uint64_t budget = 0;
  std::string first_text;  // the policy that started it, for messages
  std::vector<tm_tier *> slow;
  migrate::EngineConfig api_set{0, 0, 0, 0, 0, 0, 0};  // tm_migrate_configure's fields (0: unset)
  std::atomic<bool> active{false};  // a SLOW tier is registered: tm_tier_now asks the engine
};

bool in_child(const State &s) noexcept {
  const pid_t started_by = s.pid.load(std::memory_order_acquire);
  return started_by != 0 && started_by != ::getpid();
}

void stop_at_exit();

// Immortal, like the heap's tiers: statistics read at exit (TIERMEM_STATS, the preload
// library's report) may come after every destructor. The thread is stopped at exit by an
// atexit handler registered when the state is made, so before any handler registered earlier
// (the preload library's report) runs: that one reads a stopped engine's figures.
State &state() {
  alignas(State) static unsigned char storage[sizeof(State)];
  static State *s = [] {
    State *made = std::construct_at(reinterpret_cast<State *>(storage));
    std::atexit(stop_at_exit);
    return made;
  }();
  return *s;
}

void stop_at_exit() {
  State &s = state();
  if (in_child(s)) return;
  std::lock_guard<std::mutex> lock(s.mu);
  s.engine.stop();
}

// The engine's config at start: defaults, then the environment, then tm_migrate_configure().
migrate::EngineConfig start_config(const State &s) {
  migrate::EngineConfig c;
  c.fast_node = s.fast_node;
  c.budget = s.budget > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(s.budget);
  if (auto v = env_migrate_interval_ms()) c.interval_ms = *v;
  if (auto v = env_migrate_rate()) c.rate = *v > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(*v);
  if (auto v = env_migrate_cpu()) c.cpu_budget = *v;
  if (s.api_set.interval_ms != 0) c.interval_ms = s.api_set.interval_ms;
  if (s.api_set.rate != 0) c.rate = s.api_set.rate;
  if (s.api_set.cpu_budget != 0) c.cpu_budget = s.api_set.cpu_budget;
  if (s.api_set.min_residency_ms != 0) c.min_residency_ms = s.api_set.min_residency_ms;
  return c;
}

void register_slow(State &s, const AutoPlan &plan, tm_tier *slow) {
  backend::Backend &b = *slow->backend;
  migrate::SlowMemory memory;
  if (b.kind() == backend::Kind::node) {
    memory.node = plan.slow_node;
  } else {
    memory.fd = b.memory_fd();
    memory.offset = 0;  // emulated and devdax backends map their file from offset 0 at base()
    // A device maps in its align (checked: at most the 2 MiB unit); a memfd in 4 KiB pages.
    if (plan.slow.source == topology::TierTarget::Source::devdax && plan.slow.align > 4096)
      memory.granule = static_cast<std::size_t>(plan.slow.align);
  }
  // Before the engine can move a unit: no purge may punch a hole under a promoted unit.
  b.set_migrating();
  // Soft-dirty bits are per page table entry: on a transparent huge page one write marks the
  // whole 2 MiB unit, and every unit GUPS touched at all looked written in any window (VM,
  // THP "always": 65536 of 65536 pages dirty in 5 ms). A node SLOW is tracked on 4 KiB pages;
  // moves keep them (move_pages). A device maps in its own align units, which tiermem cannot
  // change (docs/migration.md).
  if (b.kind() == backend::Kind::node) {
    if (int rc = b.set_huge_pages(false); rc != 0)
      throw Error(rc, "tiermem: madvise(MADV_NOHUGEPAGE) on the SLOW tier '" + slow->name + "' failed: " +
                          std::strerror(-rc) + "; its writes cannot be tracked per page");
    if (env_thp().value_or(false))
      std::fprintf(stderr, "tiermem: TIERMEM_THP=on does not apply to '%s', the SLOW tier of an auto() "
                           "policy: its writes are tracked per 4 KiB page\n", slow->name.c_str());
  }
  backend::Backend *bp = &b;
  s.engine.add_region(b.base(), b.capacity(), memory, [bp] { return bp->mapped(); });
  s.slow.push_back(slow);
  s.active.store(true, std::memory_order_release);
}

}  // namespace

migrate::Engine &migration_engine() { return state().engine; }

void enable_auto(const AutoPlan &plan, const std::string &text, tm_tier *fast, tm_tier *slow) {
  State &s = state();
  // Documented: a child moves nothing; its blocks are valid where they are. Its SLOW tier
  // needs no marking either: the fork copy already read it from the addresses.
  if (in_child(s)) return;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.fast != nullptr) {
    if (s.fast_node != plan.fast_node || s.budget != plan.budget)
      throw Error(-EINVAL, "tiermem: policy '" + text + "': migration already runs for policy '" +
                               s.first_text + "' (fast node " + std::to_string(s.fast_node) +
                               ", budget " + platform::size_text(s.budget) +
                               "); a process has one fast tier and budget: name the same ones");
    for (tm_tier *t : s.slow)
      if (t == slow) return;
    register_slow(s, plan, slow);
    return;
  }
  s.fast = fast;
  s.fast_node = plan.fast_node;
  s.budget = plan.budget;
  s.first_text = text;
  s.pid.store(::getpid(), std::memory_order_release);
  try {
    register_slow(s, plan, slow);
    if (!s.paused) s.engine.start(start_config(s));
    s.started = true;
  } catch (...) {
    // Nothing moves: the next auto policy tries again (and says the same).
    s.fast = nullptr;
    s.pid.store(0, std::memory_order_release);
    throw;
  }
}

MigrationStats migration_stats(const tm_tier *tier) {
  State &s = state();
  MigrationStats out;
  if (!s.active.load(std::memory_order_acquire) || in_child(s)) return out;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.fast == nullptr) return out;
  auto engine_wide = [&](const migrate::EngineStats &e) {
    out.scans = e.scans;
    out.cpu_ns = e.thread_cpu_ns;
    out.move_cpu_ns = e.move_cpu_ns;
  };
  if (tier == s.fast) {
    const migrate::EngineStats e = s.engine.stats();
    out.promoted = e.promoted;
    out.demoted = e.demoted;
    out.moved_back_10s = e.moved_back_within_10s;
    out.fast_resident = e.fast_bytes;
    engine_wide(e);
    return out;
  }
  for (tm_tier *t : s.slow) {
    if (t != tier) continue;
    const migrate::RegionStats r = s.engine.region_stats(t->backend->base());
    out.promoted = r.promoted;
    out.demoted = r.demoted;
    out.moved_back_10s = r.moved_back_within_10s;
    out.fast_resident = r.fast_bytes;
    engine_wide(s.engine.stats());
  }
  return out;
}

}  // namespace tiermem::api

using namespace tiermem;

extern "C" {

TM_API tm_tier *tm_tier_now(const void *p) {
  tm_tier *home = heap::slot_owner(p);
  if (home == nullptr) return nullptr;
  api::State &s = api::state();
  if (!s.active.load(std::memory_order_acquire) || !home->backend->migrating() || api::in_child(s))
    return home;
  std::lock_guard<std::mutex> lock(s.mu);
  if (s.fast == nullptr) return home;
  return s.engine.placement(p) == 1 ? s.fast : home;
}

TM_API int tm_migrate_pause(void) {
  return api::guard([] {
    api::State &s = api::state();
    if (api::in_child(s)) return 0;  // nothing moves in a child: paused already
    std::lock_guard<std::mutex> lock(s.mu);
    s.paused = true;
    if (s.started) s.engine.stop();
    return 0;
  });
}

TM_API int tm_migrate_resume(void) {
  return api::guard([] {
    api::State &s = api::state();
    if (api::in_child(s))
      throw Error(-ENOTSUP, "tiermem: tm_migrate_resume: migration stays with the parent across "
                            "fork(); this child moves nothing (make it exec, or migrate in the parent)");
    std::lock_guard<std::mutex> lock(s.mu);
    if (!s.paused) return 0;
    if (s.fast != nullptr && !s.engine.running()) {
      migrate::EngineConfig c = api::start_config(s);
      s.engine.start(c);
      s.started = true;
    }
    s.paused = false;
    return 0;
  });
}

TM_API int tm_migrate_configure(const tm_migrate_config *c) {
  if (c == nullptr) return api::set_last_error(-EINVAL, "tiermem: tm_migrate_configure(NULL)");
  return api::guard([c] {
    if (c->cpu_share != 0 && !(c->cpu_share > 0 && c->cpu_share <= 1)) {
      char share[32];
      std::snprintf(share, sizeof share, "%g", c->cpu_share);
      throw Error(-EINVAL, std::string("tiermem: tm_migrate_configure: cpu_share ") + share +
                               " is not a share of one core above 0 and at most 1; give e.g. 0.03");
    }
    migrate::EngineConfig t{0, 0, 0, c->interval_ms, 0, c->min_residency_ms, c->cpu_share};
    t.rate = c->rate_bytes_per_s > SIZE_MAX ? SIZE_MAX : static_cast<std::size_t>(c->rate_bytes_per_s);
    api::State &s = api::state();
    std::lock_guard<std::mutex> lock(s.mu);
    if (t.interval_ms != 0) s.api_set.interval_ms = t.interval_ms;
    if (t.rate != 0) s.api_set.rate = t.rate;
    if (t.cpu_budget != 0) s.api_set.cpu_budget = t.cpu_budget;
    if (t.min_residency_ms != 0) s.api_set.min_residency_ms = t.min_residency_ms;
    s.engine.tune(t);
    return 0;
  });
}

}  // extern "C"

// The process's one migration engine (migrate/engine.hpp) wired to the heap: an
// auto(FAST<=SIZE, SLOW) policy registers SLOW's tier memory with it as the tier's backend
// maps it, and starts it. The C ABI (tm_tier_now, tm_migrate_*) is in migration.cpp too.
#pragma once
#include <cstdint>

#include "api/policy_check.hpp"
#include "migrate/engine.hpp"

struct tm_tier;

namespace tiermem::api {

/**
 * Makes `slow` (SLOW of `plan`, opened) a migrating tier whose units move to `fast` (FAST,
 * opened), and starts the engine unless it runs or was paused. Throws tiermem::Error: another
 * FAST or budget than the running engine's (`text`: the policy, for the message), or what
 * the engine refuses (a kernel without soft-dirty bits). In a child of fork() only marks the
 * tier migrating: nothing moves there.
 */
void enable_auto(const AutoPlan &plan, const std::string &text, tm_tier *fast, tm_tier *slow);

/** The counters of tm_tier_stats' migration fields, for one tier. */
struct MigrationStats {
  std::uint64_t promoted = 0, demoted = 0, moved_back_10s = 0, fast_resident = 0;
  std::uint64_t scans = 0, cpu_ns = 0, move_cpu_ns = 0;
};
MigrationStats migration_stats(const tm_tier *tier);

/** The engine, for tests that replace its write source on kernels without soft-dirty bits
 *  (before the first auto policy). */
migrate::Engine &migration_engine();

}  // namespace tiermem::api

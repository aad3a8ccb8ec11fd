// The heap's statistics through the C ABI: per tier (tm_tier_stats_get) and as one JSON
// document for the whole process (tm_stats_json, which the preload library prints at exit).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "api/counters.hpp"
#include "api/error.hpp"
#include "api/migration.hpp"
#include "heap/heap.hpp"
#include "platform/process.hpp"
#include "tiermem/tiermem.h"

namespace {

using namespace tiermem;

using TierCounter = api::Counter<heap::Stats, tm_tier_stats>;
// Every counter of a tier, for tm_tier_stats_get and for the JSON document alike.
constexpr TierCounter kTierCounters[] = {
    {"capacity", &heap::Stats::capacity, &tm_tier_stats::capacity},
    {"limit", &heap::Stats::limit, &tm_tier_stats::limit},
    {"mapped", &heap::Stats::mapped, &tm_tier_stats::mapped},
    {"allocated", &heap::Stats::allocated, &tm_tier_stats::allocated},
    {"peak", &heap::Stats::peak, &tm_tier_stats::peak},
    {"failures", &heap::Stats::failures, &tm_tier_stats::failures},
    {"fallbacks", &heap::Stats::fallbacks, &tm_tier_stats::fallbacks},
    {"quarantined", &heap::Stats::quarantined, &tm_tier_stats::quarantined},
    {"quarantined_blocks", &heap::Stats::quarantined_blocks, &tm_tier_stats::quarantined_blocks},
    {"repaired", &heap::Stats::repaired, &tm_tier_stats::repaired},
};

using MigrationCounter = api::Counter<api::MigrationStats, tm_tier_stats>;
// A tier's migration counters (api/migration.hpp), in the same struct and document.
constexpr MigrationCounter kMigrationCounters[] = {
    {"promoted_bytes", &api::MigrationStats::promoted, &tm_tier_stats::promoted_bytes},
    {"demoted_bytes", &api::MigrationStats::demoted, &tm_tier_stats::demoted_bytes},
    {"moved_back_10s_bytes", &api::MigrationStats::moved_back_10s, &tm_tier_stats::moved_back_10s_bytes},
    {"fast_resident_bytes", &api::MigrationStats::fast_resident, &tm_tier_stats::fast_resident_bytes},
    {"tracking_scans", &api::MigrationStats::scans, &tm_tier_stats::tracking_scans},
    {"tracking_cpu_ns", &api::MigrationStats::cpu_ns, &tm_tier_stats::tracking_cpu_ns},
    {"moving_cpu_ns", &api::MigrationStats::move_cpu_ns, &tm_tier_stats::moving_cpu_ns},
};

// Whole-heap statistics as JSON (per tier, plus foreign frees).
std::string stats_json() {
  nlohmann::json doc;
  doc["tiers"] = nlohmann::json::array();
  for (tm_tier *t : heap::active_tiers()) {
    heap::Stats s = heap::stats(t);
    nlohmann::json j;
    j["name"] = t->name;
    j["kind"] = t->kind;
    j["rank"] = t->rank < 0 ? nlohmann::json(nullptr) : nlohmann::json(t->rank);
    j["backend"] = t->backend->description();
    for (const TierCounter &c : kTierCounters) j[c.key] = s.*c.from;
    const api::MigrationStats m = api::migration_stats(t);
    for (const MigrationCounter &c : kMigrationCounters) j[c.key] = m.*c.from;
    if (s.limit == UINT64_MAX) j["limit"] = nullptr;  // no limit set
    doc["tiers"].push_back(std::move(j));
  }
  doc["foreign_frees"] = heap::foreign_count();
  // Several processes of one job (a shell script, a compiler driver, a shim) print to the
  // same stderr at exit: each line must say whose it is. getpid() now, not at start: a
  // forked child prints its own.
  doc["pid"] = static_cast<long>(::getpid());
  doc["command"] = platform::command_name();
  // A name set with prctl(PR_SET_NAME) may be any bytes: replaced, never a throw.
  return doc.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

extern "C" {

TM_API int tm_tier_stats_get(tm_tier *tier, tm_tier_stats *out) {
  if (tier == nullptr || out == nullptr) {
    return api::set_last_error(-EINVAL, "tiermem: tm_tier_stats_get: NULL tier or output");
  }
  return api::guard([&] {
    heap::Stats s = heap::stats(tier);
    out->name = tier->name.c_str();
    out->backend = tier->backend->description().c_str();
    api::copy_counters(s, *out, kTierCounters);
    api::copy_counters(api::migration_stats(tier), *out, kMigrationCounters);
    return 0;
  });
}

TM_API size_t tm_tiers_opened(tm_tier **out, size_t max) {
  auto tiers = heap::active_tiers();
  for (size_t i = 0; i < tiers.size() && i < max; ++i) out[i] = tiers[i];
  return tiers.size();
}

TM_API char *tm_stats_json(void) {
  char *out = nullptr;
  int rc = api::guard([&] {
    std::string s = stats_json();
    out = static_cast<char *>(std::malloc(s.size() + 1));
    if (out == nullptr) return -ENOMEM;
    std::memcpy(out, s.c_str(), s.size() + 1);
    return 0;
  });
  if (rc != 0) errno = -rc;
  return out;
}

}  // extern "C"

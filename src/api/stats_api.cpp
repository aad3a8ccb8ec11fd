// The heap's statistics through the C ABI: per tier (tm_tier_stats_get) and as one JSON
// document for the whole process (tm_stats_json, which the preload library prints at exit).
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "api/error.hpp"
#include "heap/heap.hpp"
#include "platform/process.hpp"
#include "tiermem/tiermem.h"

namespace {

using namespace tiermem;

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
    j["capacity"] = s.capacity;
    j["limit"] = s.limit == UINT64_MAX ? nlohmann::json(nullptr) : nlohmann::json(s.limit);
    j["mapped"] = s.mapped;
    j["allocated"] = s.allocated;
    j["peak"] = s.peak;
    j["failures"] = s.failures;
    j["fallbacks"] = s.fallbacks;
    j["quarantined"] = s.quarantined;
    j["quarantined_blocks"] = s.quarantined_blocks;
    j["repaired"] = s.repaired;
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
    out->capacity = s.capacity;
    out->limit = s.limit;
    out->mapped = s.mapped;
    out->allocated = s.allocated;
    out->peak = s.peak;
    out->failures = s.failures;
    out->fallbacks = s.fallbacks;
    out->quarantined = s.quarantined;
    out->quarantined_blocks = s.quarantined_blocks;
    out->repaired = s.repaired;
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

// The environment the library obeys (TIERMEM_STATS, TIERMEM_LOG, TIERMEM_DECAY_MS,
// TIERMEM_THP, TIERMEM_MIGRATE_*, TIERMEM_FSROOT), offered to the front ends: the preload library reads its settings here, and
// `tiermem run`/`tiermem show` check them with the same parsers (topology/env.hpp), so what
// the launcher accepts the library accepts too, and a bad value has one message everywhere.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "topology/env.hpp"

namespace tiermem::api {

/** TIERMEM_LOG's levels. */
using LogLevel = topology::env::LogLevel;

/** TIERMEM_STATS; false when unset. Throws tiermem::Error naming the variable and the value. */
bool env_stats();
/** TIERMEM_LOG; LogLevel::error when unset. Throws tiermem::Error. */
LogLevel env_log_level();
/** TIERMEM_DECAY_MS; nullopt when unset or empty. Throws tiermem::Error. */
std::optional<long> env_decay_ms();
/** TIERMEM_THP (on/off for node tiers); nullopt when unset. Throws tiermem::Error. */
std::optional<bool> env_thp();
/** TIERMEM_MIGRATE_INTERVAL_MS / _RATE / _CPU; nullopt when unset. Throw tiermem::Error. */
std::optional<unsigned> env_migrate_interval_ms();
std::optional<std::uint64_t> env_migrate_rate();
std::optional<double> env_migrate_cpu();
/** TIERMEM_FSROOT; nullopt when unset. Throws tiermem::Error for an empty value. */
std::optional<std::string> env_fsroot();

}  // namespace tiermem::api

// tiermem's environment variables, each parsed by one function here so that every reader
// (`tiermem list`, `tiermem run`, the heap, the preload library) accepts and refuses the same
// values with the same message. TIERMEM_EMULATE's grammar lives in emulate.hpp, TIERMEM_POLICY's
// in policy.hpp, TIERMEM_POISON's and TIERMEM_COPY_MC's in safety/sigbus.cpp; they too have one
// reader each.
//
// Every variable is read with secure_getenv (ignored for set-id programs). Errors are
// tiermem::Error (-EINVAL) with one line naming the variable, the value and the remedy.
//
//   TIERMEM_STATS     boolean: 1, yes, true, on / 0, no, false, off (any case); empty = off
//   TIERMEM_LOG       quiet | error | info (any case); empty = error, the default
//   TIERMEM_DECAY_MS  -1 (never return freed pages), 0 (at once) or milliseconds up to
//                     kMaxDecayMs; empty = unset
//   TIERMEM_THP       boolean: transparent huge pages for node tiers (MADV_HUGEPAGE when on,
//                     MADV_NOHUGEPAGE when off); empty or unset = the kernel's default
//   TIERMEM_MIGRATE_INTERVAL_MS  milliseconds between the migration engine's scans, 1 to
//                     kMaxMigrateIntervalMs; empty = unset (the engine's default, 500)
//   TIERMEM_MIGRATE_RATE  bytes moved per second at most, a size as TIERMEM_EMULATE's ("256M");
//                     above 0; empty = unset (256 MiB/s)
//   TIERMEM_MIGRATE_CPU  the migration thread's CPU budget, a share of one core: 0 < x <= 1;
//                     empty = unset (0.03)
//   TIERMEM_FSROOT    a directory shaped like / (a recorded machine); empty is refused
//   TIERMEM_CACHE_DIR where the per-boot hwloc cache lives (hwloc_cache.hpp); "off" turns the
//                     cache off; empty is refused
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tiermem::topology::env {

/** A boolean variable's value (`name` is for the message). Throws tiermem::Error. */
bool parse_bool(std::string_view name, std::string_view value);

enum class LogLevel { quiet = 0, error = 1, info = 2 };
LogLevel parse_log(std::string_view value);

/** 10^12 ms (about 31 years): below jemalloc's own limit, so a parsed value is never refused later. */
inline constexpr long kMaxDecayMs = 1'000'000'000'000L;
long parse_decay_ms(std::string_view value);

/** One hour: a longer interval between scans would make migration meaningless. */
inline constexpr unsigned kMaxMigrateIntervalMs = 3'600'000;
unsigned parse_migrate_interval_ms(std::string_view value);
std::uint64_t parse_migrate_rate(std::string_view value);
double parse_migrate_cpu(std::string_view value);

/** TIERMEM_STATS; false when unset. */
bool stats();
/** TIERMEM_LOG; LogLevel::error when unset. */
LogLevel log_level();
/** TIERMEM_DECAY_MS; nullopt when unset or empty. */
std::optional<long> decay_ms();
/** TIERMEM_THP; nullopt when unset or empty (the kernel's default stays). */
std::optional<bool> thp();
/** TIERMEM_MIGRATE_INTERVAL_MS, TIERMEM_MIGRATE_RATE, TIERMEM_MIGRATE_CPU; nullopt when unset
 *  or empty. */
std::optional<unsigned> migrate_interval_ms();
std::optional<std::uint64_t> migrate_rate();
std::optional<double> migrate_cpu();
/** TIERMEM_FSROOT; nullopt when unset. */
std::optional<std::string> fsroot();
/** The machine to read: `given` (--fsroot, DiscoverOptions::fsroot), else TIERMEM_FSROOT, else "/". */
std::string fsroot_or(const std::string &given);

/** TIERMEM_CACHE_DIR: unset gives the default place, "off" no cache, else the directory. */
struct CacheDir {
  bool off = false;
  std::optional<std::string> dir;  ///< nullopt: the default place
};
CacheDir cache_dir();

}  // namespace tiermem::topology::env

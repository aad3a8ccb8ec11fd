#include "topology/env.hpp"

#include <cerrno>
#include <cstdlib>

#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::topology::env {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char &c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

[[noreturn]] void refuse(std::string_view name, std::string_view value, std::string_view why) {
  throw Error(-EINVAL, "tiermem: " + std::string(name) + "='" + std::string(value) + "' " +
                           std::string(why) + "; fix or unset it");
}

// A variable's value `v` (secure_getenv's answer): unset when absent or empty, else parsed
// (and refused) by `parse`. Each reader names its variable in its own getenv call, where the
// docs test (tests/docs/check_man.py) finds it.
template <class Parse>
auto set_value(const char *v, Parse &&parse) -> std::optional<decltype(parse(std::string_view{}))> {
  if (v == nullptr || *v == '\0') return std::nullopt;
  return parse(std::string_view(v));
}

}  // namespace

bool parse_bool(std::string_view name, std::string_view value) {
  const std::string v = lower(value);
  if (v == "1" || v == "yes" || v == "true" || v == "on") return true;
  if (v.empty() || v == "0" || v == "no" || v == "false" || v == "off") return false;
  refuse(name, value, "is not a boolean (1, yes, true, on or 0, no, false, off)");
}

LogLevel parse_log(std::string_view value) {
  const std::string v = lower(value);
  if (v == "quiet") return LogLevel::quiet;
  if (v == "error" || v.empty()) return LogLevel::error;
  if (v == "info") return LogLevel::info;
  refuse("TIERMEM_LOG", value, "is not one of quiet, error, info");
}

long parse_decay_ms(std::string_view value) {
  bool negative = !value.empty() && value[0] == '-';
  std::string_view digits = negative ? value.substr(1) : value;
  long n = 0;
  bool ok = !digits.empty() && digits.size() <= 13;
  for (char c : digits) {
    if (c < '0' || c > '9') ok = false;
    else if (ok) n = n * 10 + (c - '0');
  }
  if (ok && negative) {
    ok = n == 1;  // -1 is the one negative value: "never"
    n = -1;
  }
  if (!ok || n > kMaxDecayMs)
    refuse("TIERMEM_DECAY_MS", value,
           "is not -1 (never), 0 (at once) or a number of milliseconds up to " +
               std::to_string(kMaxDecayMs) + " (about 31 years)");
  return n;
}

unsigned parse_migrate_interval_ms(std::string_view value) {
  std::uint64_t n = 0;
  bool ok = !value.empty() && value.size() <= 8;
  for (char c : value) {
    if (c < '0' || c > '9') ok = false;
    else if (ok) n = n * 10 + static_cast<unsigned>(c - '0');
  }
  if (!ok || n == 0 || n > kMaxMigrateIntervalMs)
    refuse("TIERMEM_MIGRATE_INTERVAL_MS", value,
           "is not a number of milliseconds from 1 to " + std::to_string(kMaxMigrateIntervalMs) +
               " (one hour)");
  return static_cast<unsigned>(n);
}

std::uint64_t parse_migrate_rate(std::string_view value) {
  const char *why = nullptr;
  const std::uint64_t n = platform::try_parse_size(value, why).value_or(0);
  if (n == 0)
    refuse("TIERMEM_MIGRATE_RATE", value,
           "is not a rate in bytes per second above 0 (a size such as 4096, 64M, 1G)");
  return n;
}

double parse_migrate_cpu(std::string_view value) {
  const std::string v(value);
  char *end = nullptr;
  errno = 0;
  const double x = v.empty() ? 0 : std::strtod(v.c_str(), &end);
  if (v.empty() || errno != 0 || end != v.c_str() + v.size() || !(x > 0 && x <= 1))
    refuse("TIERMEM_MIGRATE_CPU", value,
           "is not a share of one core above 0 and at most 1 (e.g. 0.03 for 3%)");
  return x;
}

std::optional<unsigned> migrate_interval_ms() { return set_value(::secure_getenv("TIERMEM_MIGRATE_INTERVAL_MS"), parse_migrate_interval_ms); }

std::optional<std::uint64_t> migrate_rate() { return set_value(::secure_getenv("TIERMEM_MIGRATE_RATE"), parse_migrate_rate); }

std::optional<double> migrate_cpu() { return set_value(::secure_getenv("TIERMEM_MIGRATE_CPU"), parse_migrate_cpu); }

bool stats() {
  const char *v = ::secure_getenv("TIERMEM_STATS");
  return v != nullptr && parse_bool("TIERMEM_STATS", v);
}

LogLevel log_level() {
  const char *v = ::secure_getenv("TIERMEM_LOG");
  return v != nullptr ? parse_log(v) : LogLevel::error;
}

std::optional<long> decay_ms() { return set_value(::secure_getenv("TIERMEM_DECAY_MS"), parse_decay_ms); }

std::optional<bool> thp() {
  return set_value(::secure_getenv("TIERMEM_THP"), [](std::string_view v) { return parse_bool("TIERMEM_THP", v); });
}

std::optional<std::string> fsroot() {
  const char *v = ::secure_getenv("TIERMEM_FSROOT");
  if (v == nullptr) return std::nullopt;
  if (*v == '\0')
    throw Error(-EINVAL, "tiermem: TIERMEM_FSROOT is set but empty; unset it or point it at "
                         "a recorded machine (a directory shaped like /)");
  return std::string(v);
}

std::string fsroot_or(const std::string &given) {
  if (!given.empty()) return given;
  return fsroot().value_or("/");
}

CacheDir cache_dir() {
  const char *v = ::secure_getenv("TIERMEM_CACHE_DIR");
  CacheDir c;
  if (v == nullptr) return c;
  if (*v == '\0')
    throw Error(-EINVAL, "tiermem: TIERMEM_CACHE_DIR is set but empty; unset it, set it to a "
                         "directory, or to 'off' to read the machine afresh in every process");
  if (lower(v) == "off") c.off = true;
  else c.dir = v;
  return c;
}

}  // namespace tiermem::topology::env

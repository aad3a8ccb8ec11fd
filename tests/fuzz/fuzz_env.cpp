// Every TIERMEM_* value that is parsed: the first byte picks the variable, the rest (up to a
// NUL, which an environment cannot hold) is its value, set in the environment and read by the
// reader the library and the command use. Each value is taken or refused with a one-line
// error, and the parse functions agree with the readers.
#include <cstdlib>

#include "fuzz.hpp"
#include "platform/sysfs.hpp"
#include "policy/policy.hpp"
#include "safety/sigbus.hpp"
#include "topology/env.hpp"

namespace {

const char *const kNames[] = {"TIERMEM_STATS",     "TIERMEM_LOG",   "TIERMEM_DECAY_MS",
                              "TIERMEM_FSROOT",    "TIERMEM_CACHE_DIR", "TIERMEM_POISON",
                              "TIERMEM_POLICY",    "TIERMEM_THP",
                              "TIERMEM_MIGRATE_INTERVAL_MS", "TIERMEM_MIGRATE_RATE",
                              "TIERMEM_MIGRATE_CPU"};

void read_one(int which, const std::string &value) {
  namespace env = tiermem::topology::env;
  switch (which) {
    case 0: FUZZ_CHECK(env::stats() == env::parse_bool("TIERMEM_STATS", value)); break;
    case 1: FUZZ_CHECK(env::log_level() == env::parse_log(value)); break;
    case 2: {
      const auto ms = env::decay_ms();
      FUZZ_CHECK(ms.has_value() == !value.empty());
      if (ms) FUZZ_CHECK(*ms >= -1 && *ms <= env::kMaxDecayMs && *ms == env::parse_decay_ms(value));
      break;
    }
    case 3: {
      const auto root = env::fsroot();
      FUZZ_CHECK(root && *root == value);
      // Only checks the directory: nothing below it is read here.
      tiermem::platform::SysfsRoot r(*root);
      break;
    }
    case 4: {
      const auto c = env::cache_dir();
      FUZZ_CHECK(c.off != c.dir.has_value());
      break;
    }
    case 5: {
      const char *why = nullptr;
      const int rc = tiermem::safety::apply_poison_env(&why);
      FUZZ_CHECK(rc == 0 || (rc == -EINVAL && why != nullptr));
      break;
    }
    case 6: tiermem::policy::parse(std::getenv("TIERMEM_POLICY")); break;
    case 7: {
      const auto on = env::thp();
      FUZZ_CHECK(on.has_value() == !value.empty());
      if (on) FUZZ_CHECK(*on == env::parse_bool("TIERMEM_THP", value));
      break;
    }
    case 8: {
      const auto ms = env::migrate_interval_ms();
      FUZZ_CHECK(ms.has_value() == !value.empty());
      if (ms) FUZZ_CHECK(*ms >= 1 && *ms <= env::kMaxMigrateIntervalMs && *ms == env::parse_migrate_interval_ms(value));
      break;
    }
    case 9: {
      const auto rate = env::migrate_rate();
      FUZZ_CHECK(rate.has_value() == !value.empty());
      if (rate) FUZZ_CHECK(*rate > 0 && *rate == env::parse_migrate_rate(value));
      break;
    }
    case 10: {
      const auto cpu = env::migrate_cpu();
      FUZZ_CHECK(cpu.has_value() == !value.empty());
      if (cpu) FUZZ_CHECK(*cpu > 0 && *cpu <= 1 && *cpu == env::parse_migrate_cpu(value));
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  if (size == 0) return 0;
  const int which = data[0] % static_cast<int>(std::size(kNames));
  std::string value(fuzz::text(data + 1, size - 1));
  value = value.substr(0, value.find('\0'));
  ::setenv(kNames[which], value.c_str(), 1);
  try {
    read_one(which, value);
  } catch (const tiermem::Error &e) {
    fuzz::check_error(e, value);
  }
  ::unsetenv(kNames[which]);
  return 0;
}

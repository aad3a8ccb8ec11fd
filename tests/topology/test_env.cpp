// The parsers of tiermem's environment variables (src/topology/env.cpp): one per variable,
// shared by `tiermem list`, `tiermem run`, the heap and the preload library.
#include <doctest/doctest.h>

#include "platform/text.hpp"
#include "support.hpp"
#include "topology/env.hpp"

using namespace tiermem::topology::env;
using tiermem::test::error_of;

TEST_CASE("boolean variables accept 1/0, yes/no, true/false and on/off in any case") {
  for (const char *on : {"1", "yes", "YES", "true", "True", "on", "ON"})
    CHECK_MESSAGE(parse_bool("TIERMEM_STATS", on), on);
  for (const char *off : {"", "0", "no", "No", "false", "FALSE", "off", "Off"})
    CHECK_MESSAGE(!parse_bool("TIERMEM_STATS", off), off);
}

TEST_CASE("a boolean variable's other values are refused naming the variable, the value and the choices") {
  for (const char *bad : {"2", "maybe", "y", "-1", " 1"}) {
    const std::string msg = error_of([&] { parse_bool("TIERMEM_STATS", bad); });
    CHECK(msg == std::string("tiermem: TIERMEM_STATS='") + bad +
                     "' is not a boolean (1, yes, true, on or 0, no, false, off); fix or unset it");
  }
}

TEST_CASE("TIERMEM_LOG is quiet, error or info in any case, empty meaning the default") {
  CHECK(parse_log("quiet") == LogLevel::quiet);
  CHECK(parse_log("INFO") == LogLevel::info);
  CHECK(parse_log("") == LogLevel::error);
  CHECK(error_of([] { parse_log("loud"); }) ==
        "tiermem: TIERMEM_LOG='loud' is not one of quiet, error, info; fix or unset it");
}

TEST_CASE("TIERMEM_DECAY_MS is -1, 0 or milliseconds up to the stated cap") {
  CHECK(parse_decay_ms("-1") == -1);
  CHECK(parse_decay_ms("0") == 0);
  CHECK(parse_decay_ms("250") == 250);
  CHECK(parse_decay_ms("1000000000000") == kMaxDecayMs);
  for (const char *bad : {"", "-2", "1s", "ten", "1000000000001", "99999999999999999999"}) {
    const std::string msg = error_of([&] { parse_decay_ms(bad); });
    INFO(bad);
    CHECK(msg.find(std::string("TIERMEM_DECAY_MS='") + bad + "'") != std::string::npos);
    CHECK(msg.find("up to 1000000000000") != std::string::npos);
  }
}

TEST_CASE("sizes in messages carry binary units") {
  using tiermem::platform::size_text;
  CHECK(size_text(std::uint64_t{1} << 42) == "4 TiB");
  CHECK(size_text(99999ull << 40) == "99999 TiB");
  CHECK(size_text(1536ull << 10) == "1536 KiB");
  CHECK(size_text((3ull << 29) + 1) == "1.5 GiB");
  CHECK(size_text(17) == "17 bytes");
  CHECK(size_text(1) == "1 byte");
}

TEST_CASE("TIERMEM_MIGRATE_INTERVAL_MS is milliseconds from 1 to an hour") {
  CHECK(parse_migrate_interval_ms("1") == 1);
  CHECK(parse_migrate_interval_ms("500") == 500);
  CHECK(parse_migrate_interval_ms("3600000") == kMaxMigrateIntervalMs);
  for (const char *bad : {"", "0", "-5", "1s", "3600001", "99999999999"}) {
    CHECK(error_of([&] { parse_migrate_interval_ms(bad); }) ==
          std::string("tiermem: TIERMEM_MIGRATE_INTERVAL_MS='") + bad +
              "' is not a number of milliseconds from 1 to 3600000 (one hour); fix or unset it");
  }
}

TEST_CASE("TIERMEM_MIGRATE_RATE is bytes per second above 0 with the size suffixes") {
  CHECK(parse_migrate_rate("4096") == 4096);
  CHECK(parse_migrate_rate("64M") == (64u << 20));
  CHECK(parse_migrate_rate("1g") == (1u << 30));
  for (const char *bad : {"", "0", "fast", "-1M", "1Q"}) {
    CHECK(error_of([&] { parse_migrate_rate(bad); }) ==
          std::string("tiermem: TIERMEM_MIGRATE_RATE='") + bad +
              "' is not a rate in bytes per second above 0 (a size such as 4096, 64M, 1G); fix or unset it");
  }
}

TEST_CASE("TIERMEM_MIGRATE_CPU is a share of one core above 0 and at most 1") {
  CHECK(parse_migrate_cpu("0.03") == doctest::Approx(0.03));
  CHECK(parse_migrate_cpu("1") == 1.0);
  for (const char *bad : {"", "0", "1.5", "-0.1", "3%", "nan", "0.1x"}) {
    CHECK(error_of([&] { parse_migrate_cpu(bad); }) ==
          std::string("tiermem: TIERMEM_MIGRATE_CPU='") + bad +
              "' is not a share of one core above 0 and at most 1 (e.g. 0.03 for 3%); fix or unset it");
  }
}

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

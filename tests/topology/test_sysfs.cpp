#include <doctest/doctest.h>

#include "platform/sysfs.hpp"

using tiermem::platform::parse_list;
using tiermem::platform::parse_u64;

TEST_CASE("kernel lists parse ranges and singletons") {
  CHECK(parse_list("0-2,4,8-9\n") == std::vector<unsigned>{0, 1, 2, 4, 8, 9});
  CHECK(parse_list("") == std::vector<unsigned>{});
  CHECK(parse_list("3") == std::vector<unsigned>{3});
}

TEST_CASE("malformed kernel lists are rejected") {
  CHECK_FALSE(parse_list("0-").has_value());
  CHECK_FALSE(parse_list("2-1").has_value());
  CHECK_FALSE(parse_list("a").has_value());
  CHECK_FALSE(parse_list("1,,2").has_value());
}

TEST_CASE("numbers parse in decimal and 0x hexadecimal, nothing else") {
  CHECK(parse_u64("2097152\n") == 2097152u);
  CHECK(parse_u64("0x40000000") == 0x40000000u);
  CHECK_FALSE(parse_u64("abc").has_value());
  CHECK_FALSE(parse_u64("12 kB").has_value());
  CHECK_FALSE(parse_u64("0x").has_value());
  CHECK_FALSE(parse_u64("-1").has_value());
}

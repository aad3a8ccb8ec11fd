// The TIERMEM_EMULATE grammar (src/topology/emulate.cpp) and the tiers it adds.
#include <doctest/doctest.h>

#include "platform/text.hpp"
#include "tiermem/error.hpp"
#include "topology/emulate.hpp"

using namespace tiermem::topology;
using tiermem::platform::parse_size;

TEST_CASE("TIERMEM_EMULATE lists NAME:SIZE pairs in order") {
  auto specs = parse_emulate("slow:1G,cxl-b:512M,x_1:65536");
  REQUIRE(specs.size() == 3);
  CHECK(specs[0].name == "slow");
  CHECK(specs[0].size == (1ull << 30));
  CHECK(specs[1].name == "cxl-b");
  CHECK(specs[1].size == (512ull << 20));
  CHECK(specs[2].size == 65536);
  CHECK(parse_emulate("").empty());
}

TEST_CASE("sizes take binary suffixes in any case") {
  CHECK(parse_size("4k", "t") == 4096);
  CHECK(parse_size("4KiB", "t") == 4096);
  CHECK(parse_size("2MB", "t") == (2u << 20));
  CHECK(parse_size("1t", "t") == (1ull << 40));
  CHECK(parse_size("17B", "t") == 17);
  CHECK_THROWS_AS(parse_size("1Q", "t"), tiermem::Error);
  CHECK_THROWS_AS(parse_size("G", "t"), tiermem::Error);
  CHECK_THROWS_AS(parse_size("99999999999999999999", "t"), tiermem::Error);
  CHECK_THROWS_AS(parse_size("20000000T", "t"), tiermem::Error);
}

TEST_CASE("malformed TIERMEM_EMULATE text is rejected with a message quoting it") {
  const char *bad[] = {"slow",       "slow:",      ":1G",     "slow:1G,",  "sl ow:1G",
                       "slow:1G,slow:2G", "slow:0", "slow:1X", "a234567890123456789012345678901234:1G"};
  for (const char *text : bad) {
    try {
      parse_emulate(text);
      FAIL("accepted: " << text);
    } catch (const tiermem::Error &e) {
      std::string msg = e.what();
      INFO(msg);
      CHECK(e.code() == -EINVAL);
      CHECK(msg.find(std::string("TIERMEM_EMULATE='") + text + "'") != std::string::npos);
      CHECK(msg.find("NAME:SIZE") != std::string::npos);
    }
  }
}

TEST_CASE("emulated tiers are appended below the discovered ones and say they are emulated") {
  tiermem::Topology topo = tiermem::Topology::from_parts({}, {});
  std::size_t before = topo.tiers().size();
  append_emulated(topo, parse_emulate("slow:1G,slower:2G"));
  REQUIRE(topo.tiers().size() == before + 2);
  const auto &t = topo.tiers()[before];
  CHECK(t.emulated);
  CHECK(t.kind == "emulated");
  CHECK(t.emulated_name == "slow");
  CHECK(t.capacity_bytes == (1ull << 30));
  CHECK(t.note.find("emulated") != std::string::npos);
  CHECK(topo.tiers()[before + 1].rank > t.rank);
}

TEST_CASE("an emulated tier above the heap's largest slot is refused with the cap in TiB") {
  CHECK(parse_emulate("slow:4T")[0].size == kMaxEmulatedBytes);
  for (const char *text : {"slow:99999T", "slow:4398046511105", "slow:99999999999999999999"}) {
    INFO(text);
    std::string msg;
    try {
      parse_emulate(text);
    } catch (const tiermem::Error &e) {
      msg = e.what();
    }
    CHECK(msg.find(std::string("tiermem: TIERMEM_EMULATE='") + text + "': tier 'slow' asks for ") == 0);
    CHECK(msg.find("more than the 4 TiB an emulated tier may hold (use at most 4T)") != std::string::npos);
  }
}

// Scrubbing a range with the machine-check-safe verify, over a memfd mapping whose tail lies
// past the end of the file (SIGBUS BUS_ADRERR without root, as tests/safety/bad_mapping.hpp).
#include <doctest/doctest.h>

#include <csignal>
#include <vector>

#include "safety/bad_mapping.hpp"
#include "safety/scrub.hpp"

using tiermem::test::BadTail;
using tiermem::test::page_size;
using namespace tiermem::safety;

TEST_CASE("a readable range scrubs clean, reporting progress up to the total") {
  BadTail m(64, 0);
  std::vector<std::uint64_t> seen;
  ScrubOptions o;
  o.chunk = 16 * page_size();
  o.progress = [&](std::uint64_t done, std::uint64_t total) {
    CHECK(total == m.size());
    seen.push_back(done);
  };
  auto r = scrub_range(m.data(), m.size(), o);
  CHECK(r.complete);
  CHECK(r.scanned == m.size());
  CHECK(r.bad.empty());
  REQUIRE(seen.size() == 4);
  CHECK(seen.back() == m.size());
}

TEST_CASE("unreadable pages are reported as one merged range at their offset") {
  BadTail m(5, 3);  // pages 5, 6, 7 fault
  ScrubOptions o;
  o.chunk = 3 * page_size();  // the fault falls inside a chunk, not at its start
  auto r = scrub_range(m.data(), m.size(), o);
  CHECK(r.complete);
  CHECK(r.scanned == m.size());
  REQUIRE(r.bad.size() == 1);
  CHECK(r.bad[0].offset == 5 * page_size());
  CHECK(r.bad[0].length == 3 * page_size());
}

TEST_CASE("a scrub of a sub-range reports offsets from its own start") {
  BadTail m(8, 2);
  auto r = scrub_range(m.data() + 4 * page_size(), 6 * page_size(), ScrubOptions{});
  REQUIRE(r.bad.size() == 1);
  CHECK(r.bad[0].offset == 4 * page_size());
  CHECK(r.bad[0].length == 2 * page_size());
}

TEST_CASE("a stop request ends the scrub after the current step with a partial result") {
  BadTail m(2, 30);
  volatile std::sig_atomic_t stop = 0;
  ScrubOptions o;
  o.chunk = page_size();
  o.stop = &stop;
  int steps = 0;
  o.progress = [&](std::uint64_t, std::uint64_t) {
    if (++steps == 4) stop = 1;
  };
  auto r = scrub_range(m.data(), m.size(), o);
  CHECK_FALSE(r.complete);
  CHECK(r.scanned == 4 * page_size());
  REQUIRE(r.bad.size() == 1);
  CHECK(r.bad[0].offset == 2 * page_size());
  CHECK(r.bad[0].length == 2 * page_size());
  CHECK(BadTail::pattern(0) == m.data()[0]);  // read only, the data is intact
}

TEST_CASE("known bad ranges are skipped: never read, counted as scanned, not reported") {
  BadTail m(4, 2);  // pages 4 and 5 fault
  ScrubOptions o;
  o.chunk = 8 * page_size();
  o.skip = {{4 * page_size(), page_size()}, {page_size(), 100}};
  auto r = scrub_range(m.data(), m.size(), o);
  CHECK(r.complete);
  CHECK(r.scanned == m.size());
  REQUIRE(r.bad.size() == 1);  // page 4 was skipped; page 5 is found
  CHECK(r.bad[0].offset == 5 * page_size());
  CHECK(r.bad[0].length == page_size());
}

// The migration engine's bad input on this machine, and what it says when the kernel cannot
// track writes (this machine's kernel has no soft-dirty bits; the engine at work is
// vm.gups-kernel's).
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "migrate/engine.hpp"
#include "migrate/track.hpp"
#include "tiermem/error.hpp"

namespace mig = tiermem::migrate;

namespace {

constexpr std::size_t kUnit = 2u << 20;

struct Aligned {
  char *reserve;
  char *p;
  std::size_t len;
  explicit Aligned(std::size_t bytes) : len(bytes) {
    reserve = static_cast<char *>(::mmap(nullptr, bytes + kUnit, PROT_READ | PROT_WRITE,
                                         MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    REQUIRE(reserve != MAP_FAILED);
    p = reinterpret_cast<char *>((reinterpret_cast<std::uintptr_t>(reserve) + kUnit - 1) & ~(kUnit - 1));
  }
  ~Aligned() { ::munmap(reserve, len + kUnit); }
};

std::string error_of(auto &&f) {
  try {
    f();
  } catch (const tiermem::Error &e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("a region that is not on unit boundaries is refused naming the boundary") {
  Aligned a(4 * kUnit);
  mig::Engine e;
  CHECK(error_of([&] { e.add_region(a.p + 4096, kUnit, mig::SlowMemory{1, -1, 0}); }) ==
        "tiermem: a migrating region must start and end on a 2 MiB boundary; align it");
  CHECK(error_of([&] { e.add_region(a.p, kUnit + 4096, mig::SlowMemory{1, -1, 0}); }) ==
        "tiermem: a migrating region must start and end on a 2 MiB boundary; align it");
}

TEST_CASE("a region's slow memory is a node or a file, and regions do not overlap") {
  Aligned a(4 * kUnit);
  mig::Engine e;
  CHECK(error_of([&] { e.add_region(a.p, kUnit, mig::SlowMemory{1, 3, 0}); }).find("exactly one") !=
        std::string::npos);
  CHECK(error_of([&] { e.add_region(a.p, kUnit, mig::SlowMemory{}); }).find("exactly one") != std::string::npos);
  e.add_region(a.p, 2 * kUnit, mig::SlowMemory{1, -1, 0});
  CHECK(error_of([&] { e.add_region(a.p + kUnit, 2 * kUnit, mig::SlowMemory{1, -1, 0}); })
            .find("overlaps one already registered") != std::string::npos);
}

TEST_CASE("a budget larger than the fast node is refused with both sizes") {
  mig::Engine e;
  mig::EngineConfig c;
  c.fast_node = 0;
  c.budget = std::size_t{1} << 50;
  const std::string why = error_of([&] { e.start(c); });
  CHECK(why.find("tiermem: a migration budget of 1073741824 MiB is more than the fast node 0 holds") == 0);
  CHECK(why.find("give a smaller budget") != std::string::npos);
}

TEST_CASE("a fast node without memory and a slow node equal to the fast one are refused") {
  mig::Engine e;
  mig::EngineConfig c;
  c.fast_node = 977;
  CHECK(error_of([&] { e.start(c); }) == "tiermem: the fast node 977 has no memory; name a node with memory");
  Aligned a(2 * kUnit);
  mig::Engine same;
  same.add_region(a.p, kUnit, mig::SlowMemory{0, -1, 0});
  c.fast_node = 0;
  c.budget = kUnit;
  CHECK(error_of([&] { same.start(c); }) ==
        "tiermem: a migrating region's slow node 0 is the fast node; name two different tiers");
}

TEST_CASE("without soft-dirty bits the engine does not start and says which kernel option it needs") {
  mig::WriteTracker t;
  REQUIRE(t.open() == 0);
  mig::Engine e;
  mig::EngineConfig c;
  c.fast_node = 0;
  c.budget = kUnit;
  const std::string why = error_of([&] { e.start(c); });
  if (t.probe()) {
    CHECK(why.empty());  // a kernel with soft-dirty: it runs, and stops cleanly
    e.stop();
  } else {
    CHECK(why == "tiermem: this kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY), which migration "
                 "tracks writes with; use a kernel built with it");
  }
}

namespace {

// A region of `units` units on a memfd (the slow memory), and an engine over it whose writes
// come from `pages` (pages written per unit at every scan) instead of soft-dirty bits.
struct Tracked {
  static constexpr std::size_t kUnits = 3;
  Aligned mem{kUnits * kUnit};
  int fd = ::memfd_create("tiermem-test-engine", MFD_CLOEXEC);
  std::vector<std::uint32_t> pages;
  mig::Engine e;
  Tracked(std::vector<std::uint32_t> written, std::size_t granule) : pages(std::move(written)) {
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(kUnits * kUnit)) == 0);
    REQUIRE(::mmap(mem.p, kUnits * kUnit, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == mem.p);
    std::memset(mem.p, 5, kUnits * kUnit);
    mig::SlowMemory slow;
    slow.fd = fd;
    slow.granule = granule;
    e.add_region(mem.p, kUnits * kUnit, slow);
    e.set_write_source({[this](const void *, std::size_t len, std::size_t unit, std::vector<std::uint32_t> &c) {
                          c.assign(len / unit, 0);
                          for (std::size_t i = 0; i < c.size() && i < pages.size(); ++i) c[i] = pages[i];
                          return 0;
                        },
                        [] {}});
    mig::EngineConfig c;
    c.fast_node = 0;
    c.budget = 2 * kUnit;
    c.interval_ms = 20;
    c.min_residency_ms = 100;
    c.cpu_budget = 1;
    e.start(c);
  }
  ~Tracked() {
    e.stop();
    ::close(fd);
  }
  // Waits for `scans` more scans (a bound of 30 s, not a measure).
  void scans(std::uint64_t n) {
    const std::uint64_t until = e.stats().scans + n;
    for (int i = 0; i < 30000 && e.stats().scans < until; ++i) ::usleep(1000);
    REQUIRE(e.stats().scans >= until);
  }
};

}  // namespace

TEST_CASE("on 4 KiB pages a unit written far less than the average stays on the slow memory") {
  Tracked t({512, 8, 0}, 4096);
  t.scans(20);
  CHECK(t.e.placement(t.mem.p) == 1);
  CHECK(t.e.placement(t.mem.p + kUnit) == 0);
  CHECK(t.e.placement(t.mem.p + 2 * kUnit) == 0);
  CHECK(t.mem.p[kUnit + 7] == 5);
}

TEST_CASE("on a device mapped in 2 MiB pages a unit written at all counts as written all over") {
  // Its units' soft-dirty bits are per 2 MiB, so 8 pages of one unit and all 512 of another
  // cannot be told apart on the device; both move, while the budget has room.
  Tracked t({512, 8, 0}, kUnit);
  t.scans(20);
  CHECK(t.e.placement(t.mem.p) == 1);
  CHECK(t.e.placement(t.mem.p + kUnit) == 1);
  CHECK(t.e.placement(t.mem.p + 2 * kUnit) == 0);
  CHECK(t.e.stats().fast_bytes == 2 * kUnit);
  CHECK(t.mem.p[kUnit + 7] == 5);
}

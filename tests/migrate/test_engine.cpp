// The migration engine's bad input on this machine, and what it says when the kernel cannot
// track writes (this machine's kernel has no soft-dirty bits; the engine at work is
// vm.gups-kernel's).
#include <doctest/doctest.h>
#include <sys/mman.h>
#include <unistd.h>

#include <string>

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

// The C++ wrappers: tier handle, STL allocator, pmr resource, unique_ptr helpers.
#include <map>
#include <memory_resource>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "tiermem/heap.hpp"

using tiermem::TierHandle;

TEST_CASE("TierHandle::find throws tiermem::Error naming an unknown tier") {
  CHECK(TierHandle::find("emulated:slow").name() == "emulated:slow");
  try {
    TierHandle::find("emulated:absent");
    FAIL("no exception");
  } catch (const tiermem::Error &e) {
    CHECK(e.code() == -ENOENT);
    CHECK(std::string(e.what()).find("absent") != std::string::npos);
  }
}

TEST_CASE("TierHandle::set_limit applies the limit and throws tiermem::Error when it fails") {
  try {
    TierHandle(nullptr).set_limit(1);
    FAIL("no exception");
  } catch (const tiermem::Error &e) {
    CHECK(e.code() == -EINVAL);
    CHECK(std::string(e.what()).find("tm_tier_set_limit") != std::string::npos);
  }
  TierHandle t = TierHandle::find("emulated:cxx");
  t.set_limit(0);
  CHECK_THROWS_AS(t.allocate(64), std::bad_alloc);
  t.set_limit(UINT64_MAX);
  TierHandle::deallocate(t.allocate(64));
}

TEST_CASE("a vector with TierAllocator keeps its elements on the tier") {
  TierHandle slow = TierHandle::find("emulated:slow");
  std::vector<long, tiermem::TierAllocator<long>> v{tiermem::TierAllocator<long>(slow)};
  for (long i = 0; i < 100000; ++i) v.push_back(i);
  CHECK(TierHandle::of(v.data()) == slow);
  long sum = 0;
  for (long x : v) sum += x;
  CHECK(sum == 100000L * 99999L / 2);
  using Alloc = tiermem::TierAllocator<std::pair<const int, std::string>>;
  std::map<int, std::string, std::less<>, Alloc> m{Alloc(slow)};
  m[1] = "one";
  m[2] = std::string(100, 'x');
  CHECK(m.size() == 2);
}

TEST_CASE("a pmr container on TierResource allocates on the tier, aligned") {
  TierHandle side = TierHandle::find("emulated:side");
  tiermem::TierResource res(side);
  std::pmr::vector<int> v(&res);
  v.resize(1000, 7);
  CHECK(TierHandle::of(v.data()) == side);
  void *p = res.allocate(100, 4096);
  CHECK(reinterpret_cast<std::uintptr_t>(p) % 4096 == 0);
  res.deallocate(p, 100, 4096);
  tiermem::TierResource same(side), other(TierHandle::find("emulated:slow"));
  CHECK(res.is_equal(same));
  CHECK(!res.is_equal(other));
}

TEST_CASE("make_unique_on constructs on the tier and destroys on reset") {
  static int destroyed = 0;
  struct Obj {
    int v;
    explicit Obj(int x) : v(x) {}
    ~Obj() { ++destroyed; }
  };
  TierHandle slow = TierHandle::find("emulated:slow");
  auto p = tiermem::make_unique_on<Obj>(slow, 42);
  CHECK(p->v == 42);
  CHECK(TierHandle::of(p.get()) == slow);
  p.reset();
  CHECK(destroyed == 1);
  auto arr = tiermem::make_unique_on<double[]>(slow, 1000);
  CHECK(arr[999] == 0.0);
  CHECK(TierHandle::of(arr.get()) == slow);
}

TEST_CASE("allocation failure in the C++ API is std::bad_alloc") {
  TierHandle tiny = TierHandle::find("emulated:tiny");
  CHECK_THROWS_AS(tiny.allocate(std::size_t{1} << 40), std::bad_alloc);
  CHECK_THROWS_AS(tiermem::Policy("bind(emulated:tiny)").allocate(std::size_t{1} << 40),
                  std::bad_alloc);
  CHECK_THROWS_AS(tiermem::Policy("bind(emulated:"), tiermem::Error);
}

#include <doctest/doctest.h>
#include <numaif.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/mempolicy.hpp"
#include "platform/raii.hpp"

using tiermem::platform::discard_pages;
using tiermem::platform::Mapping;
using tiermem::platform::NodeMask;
namespace platform = tiermem::platform;

namespace {

constexpr std::size_t kLen = 4 * 4096;

// get_mempolicy(2) without libnuma, like the wrappers under test.
int policy_of(void *addr, NodeMask &nodes) {
  int mode = -1;
  long rc = ::syscall(SYS_get_mempolicy, &mode, const_cast<unsigned long *>(nodes.data()),
                      NodeMask::maxnode(), addr, addr ? MPOL_F_ADDR : 0);
  REQUIRE(rc == 0);
  return mode;
}

}  // namespace

TEST_CASE("mbind with a NodeMask binds the range to those nodes") {
  Mapping m = Mapping::map(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  REQUIRE(m.valid());
  REQUIRE(platform::mbind(m.addr(), m.len(), MPOL_BIND, NodeMask::of({0})) == 0);
  NodeMask got;
  CHECK(policy_of(m.addr(), got) == MPOL_BIND);
  CHECK(got == NodeMask::of({0}));
}

TEST_CASE("mbind with an empty NodeMask under MPOL_BIND fails with EINVAL") {
  Mapping m = Mapping::map(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  REQUIRE(m.valid());
  CHECK(platform::mbind(m.addr(), m.len(), MPOL_BIND, NodeMask{}) == -1);
  CHECK(errno == EINVAL);
}

TEST_CASE("set_mempolicy with a NodeMask sets the thread's policy") {
  REQUIRE(platform::set_mempolicy(MPOL_PREFERRED, NodeMask::of({0})) == 0);
  NodeMask got;
  int mode = policy_of(nullptr, got);
  REQUIRE(platform::set_mempolicy(MPOL_DEFAULT, NodeMask{}) == 0);  // leave the test process as it was
  CHECK(mode == MPOL_PREFERRED);
  CHECK(got == NodeMask::of({0}));
}

TEST_CASE("discarded anonymous pages read as zero and keep the range's binding") {
  Mapping m = Mapping::map(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  REQUIRE(m.valid());
  REQUIRE(platform::mbind(m.addr(), m.len(), MPOL_BIND, NodeMask::of({0})) == 0);
  std::memset(m.addr(), 0x7f, kLen);
  REQUIRE(discard_pages(m.addr(), kLen) == 0);
  CHECK(m.bytes()[0] == std::byte{0});
  CHECK(m.bytes()[kLen - 1] == std::byte{0});
  NodeMask got;
  CHECK(policy_of(m.addr(), got) == MPOL_BIND);
}

TEST_CASE("madvise passes the advice through and reports the kernel's refusal") {
  Mapping m = Mapping::map(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
  REQUIRE(m.valid());
  CHECK(platform::madvise(m.addr(), kLen, MADV_WILLNEED) == 0);
  CHECK(platform::madvise(m.bytes() + 1, kLen, MADV_DONTNEED) == -1);  // not page-aligned
  CHECK(errno == EINVAL);
}

TEST_CASE("the THP mode is read from the bracketed word of the kernel's file") {
  using platform::parse_thp_mode;
  using platform::ThpMode;
  CHECK(parse_thp_mode("always [madvise] never\n") == ThpMode::madvise);
  CHECK(parse_thp_mode("[always] madvise never\n") == ThpMode::always);
  CHECK(parse_thp_mode("always madvise [never]\n") == ThpMode::never);
  CHECK(parse_thp_mode("") == ThpMode::absent);
  CHECK(parse_thp_mode("always [sometimes] never") == ThpMode::absent);
}

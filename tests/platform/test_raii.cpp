#include <doctest/doctest.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "platform/raii.hpp"

using tiermem::platform::Mapping;
using tiermem::platform::NodeMask;
using tiermem::platform::UniqueFd;

namespace {

bool fd_open(int fd) { return ::fcntl(fd, F_GETFD) != -1; }

int open_null() {
  int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  REQUIRE(fd >= 0);
  return fd;
}

// msync fails with ENOMEM exactly when part of the range is not mapped.
bool mapped(void *addr, std::size_t len) { return ::msync(addr, len, MS_ASYNC) == 0; }

constexpr std::size_t kLen = 2 * 4096;

}  // namespace

TEST_CASE("a UniqueFd closes its descriptor when it goes out of scope") {
  int fd = open_null();
  {
    UniqueFd owner(fd);
    CHECK(owner.get() == fd);
    CHECK(owner.valid());
  }
  CHECK_FALSE(fd_open(fd));
}

TEST_CASE("a released UniqueFd leaves the descriptor open and owns nothing") {
  int fd = open_null();
  {
    UniqueFd owner(fd);
    CHECK(owner.release() == fd);
    CHECK_FALSE(owner.valid());
    CHECK(owner.get() == -1);
  }
  CHECK(fd_open(fd));
  ::close(fd);
}

TEST_CASE("moving a UniqueFd hands the descriptor over so that it is closed once") {
  int fd = open_null();
  UniqueFd a(fd);
  UniqueFd b(std::move(a));
  CHECK(a.get() == -1);  // NOLINT(bugprone-use-after-move): the moved-from state is the contract
  CHECK(b.get() == fd);
  UniqueFd c;
  c = std::move(b);
  CHECK(c.get() == fd);
  CHECK(fd_open(fd));
  c.reset();
  CHECK_FALSE(fd_open(fd));
}

TEST_CASE("assigning to a UniqueFd closes the descriptor it held before") {
  int first = open_null();
  int second = open_null();
  UniqueFd owner(first);
  owner = UniqueFd(second);
  CHECK_FALSE(fd_open(first));
  CHECK(owner.get() == second);
}

TEST_CASE("UniqueFd::close reports close's result and leaves nothing to close again") {
  UniqueFd owner(open_null());
  CHECK(owner.close() == 0);
  CHECK_FALSE(owner.valid());
  CHECK(owner.close() == 0);
}

TEST_CASE("a Mapping unmaps its range when it goes out of scope") {
  void *addr = nullptr;
  {
    Mapping m = Mapping::map(nullptr, kLen, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS);
    REQUIRE(m.valid());
    CHECK(m.len() == kLen);
    std::memset(m.addr(), 0x5a, kLen);
    addr = m.addr();
    CHECK(mapped(addr, kLen));
  }
  CHECK_FALSE(mapped(addr, kLen));
}

TEST_CASE("a failed map gives an empty Mapping and keeps errno") {
  errno = 0;
  Mapping m = Mapping::map(nullptr, kLen, PROT_READ, MAP_SHARED, -1);  // no file to share
  CHECK_FALSE(m.valid());
  CHECK(m.len() == 0);
  CHECK(errno == EBADF);
}

TEST_CASE("a released Mapping leaves the range mapped for its new owner") {
  Mapping m = Mapping::map(nullptr, kLen, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  REQUIRE(m.valid());
  void *addr = m.addr();
  auto [raddr, rlen] = m.release();
  CHECK(raddr == addr);
  CHECK(rlen == kLen);
  CHECK_FALSE(m.valid());
  m.reset();
  CHECK(mapped(addr, kLen));
  ::munmap(addr, kLen);
}

TEST_CASE("moving a Mapping hands the range over so that it is unmapped once") {
  Mapping a = Mapping::map(nullptr, kLen, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS);
  REQUIRE(a.valid());
  void *addr = a.addr();
  Mapping b(std::move(a));
  CHECK_FALSE(a.valid());  // NOLINT(bugprone-use-after-move)
  Mapping c;
  c = std::move(b);
  CHECK(c.addr() == addr);
  CHECK(mapped(addr, kLen));
  c.reset();
  CHECK_FALSE(mapped(addr, kLen));
}

TEST_CASE("a NodeMask holds nodes in the kernel's bit layout") {
  NodeMask m = NodeMask::of({0, 3, 64, 65, 1023});
  CHECK(m.test(0));
  CHECK(m.test(3));
  CHECK_FALSE(m.test(1));
  CHECK(m.count() == 5);
  CHECK(m.nodes() == std::vector<unsigned>{0, 3, 64, 65, 1023});
  CHECK(m.data()[0] == 0b1001UL);
  CHECK((m.data()[64 / NodeMask::kWordBits] & (1UL << (64 % NodeMask::kWordBits))) != 0);
  CHECK(NodeMask::maxnode() == NodeMask::kMaxNodes + 1);
}

TEST_CASE("a NodeMask refuses nodes beyond the kernel's largest node number") {
  NodeMask m;
  CHECK(m.empty());
  CHECK_FALSE(m.set(NodeMask::kMaxNodes));
  CHECK_FALSE(m.test(NodeMask::kMaxNodes));
  CHECK(m.empty());
  CHECK(NodeMask::of({2, NodeMask::kMaxNodes + 7}) == NodeMask::of({2}));
}

TEST_CASE("clearing a node takes it out of a NodeMask") {
  NodeMask m = NodeMask::of({1, 2});
  m.clear(1);
  CHECK(m.nodes() == std::vector<unsigned>{2});
  m.clear(2);
  CHECK(m.empty());
  CHECK(m == NodeMask{});
}

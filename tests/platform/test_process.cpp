#include <doctest/doctest.h>
#include <errno.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "platform/process.hpp"

namespace p = tiermem::platform;

namespace {

// Field 22 of /proc/self/stat, read the plain way.
std::uint64_t stat_field_22() {
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::istringstream rest(text.substr(text.rfind(')') + 2));
  std::string w;
  for (int field = 3; field < 22; ++field) rest >> w;
  std::uint64_t v = 0;
  rest >> v;
  return v;
}

}  // namespace

TEST_CASE("start_time is the process's start in clock ticks, for itself and by pid") {
  const std::uint64_t mine = p::start_time(0);
  CHECK(mine != 0);
  CHECK(mine == stat_field_22());
  CHECK(p::start_time(::getpid()) == mine);
}

TEST_CASE("start_time tells a later process from an earlier one and is 0 for none") {
  pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::usleep(200000);
    ::_exit(0);
  }
  CHECK(p::start_time(child) >= p::start_time(0));
  int st = 0;
  ::waitpid(child, &st, 0);
  CHECK(p::start_time(child) == 0);
  CHECK(p::start_time(999999999) == 0);
}

TEST_CASE("an anonymous mapping is named in maps, or refused with EINVAL by a kernel without names") {
  const std::size_t len = 1 << 20;
  void *m = ::mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(m != MAP_FAILED);
  errno = 0;
  const bool named = p::name_anon_mapping(m, len, "tiermem test");
  std::ifstream maps("/proc/self/maps");
  std::string text((std::istreambuf_iterator<char>(maps)), std::istreambuf_iterator<char>());
  if (named) {
    CHECK(text.find("[anon:tiermem test]") != std::string::npos);
  } else {
    CHECK(errno == EINVAL);  // CONFIG_ANON_VMA_NAME is off: the mapping stays unnamed
    CHECK(text.find("[anon:tiermem test]") == std::string::npos);
  }
  ::munmap(m, len);
}

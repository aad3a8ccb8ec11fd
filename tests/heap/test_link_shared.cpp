// A program linked with libtiermem.so keeps glibc's malloc: the private jemalloc is renamed
// (tmje_*) and hidden, so neither malloc nor operator new resolve into libtiermem.
#include <dlfcn.h>
#include <malloc.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "tiermem/tiermem.h"

namespace {
std::string object_of(void *fn) {
  Dl_info info{};
  REQUIRE(dladdr(fn, &info) != 0);
  return info.dli_fname;
}
}  // namespace

TEST_CASE("malloc and free of a program linked with libtiermem resolve to glibc") {
  // Touch tiermem first so that its jemalloc is initialised.
  REQUIRE(tm_tier_find("emulated:slow") != nullptr);
  CHECK(object_of(reinterpret_cast<void *>(&malloc)).find("libc.so") != std::string::npos);
  CHECK(object_of(reinterpret_cast<void *>(&free)).find("libc.so") != std::string::npos);
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  CHECK(object_of(sym).find("libc.so") != std::string::npos);
  CHECK(dlsym(RTLD_DEFAULT, "mallocx") == nullptr);
  CHECK(dlsym(RTLD_DEFAULT, "tmje_mallocx") == nullptr);  // hidden, not exported
}

TEST_CASE("glibc's malloc_usable_size still works on the program's own blocks") {
  REQUIRE(tm_tier_find("emulated:slow") != nullptr);
  void *p = std::malloc(100);
  CHECK(malloc_usable_size(p) >= 100);
  CHECK(tm_tier_of(p) == nullptr);  // not a tiermem block
  std::free(p);
}

TEST_CASE("tiermem blocks and glibc blocks live side by side in a shared-library build") {
  tm_tier *t = tm_tier_find("emulated:slow");
  REQUIRE(t != nullptr);
  char *a = static_cast<char *>(tm_malloc(t, 1000));
  char *b = static_cast<char *>(std::malloc(1000));
  REQUIRE(a != nullptr);
  REQUIRE(b != nullptr);
  std::memset(a, 'a', 1000);
  std::memset(b, 'b', 1000);
  CHECK(tm_tier_of(a) == t);
  CHECK(tm_tier_of(b) == nullptr);
  tm_free(a);
  std::free(b);
}

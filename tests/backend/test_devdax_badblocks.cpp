// The devdax backend never hands out memory holding a known bad block. /dev/zero stands in
// for /dev/daxX.Y (a character device that maps MAP_SHARED), as in test_backends.cpp; the
// bad ranges are given directly (their sysfs side is tests/safety/test_badblocks.cpp).
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <vector>

#include <doctest/doctest.h>

#include "backend/backend.hpp"

using namespace tiermem::backend;
using BadRange = tiermem::platform::ByteRange;

namespace {

constexpr std::size_t kSlot = std::size_t{1} << 30;

std::byte *aligned_slot() {
  void *raw = mmap(nullptr, 2 * kSlot, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  REQUIRE(raw != MAP_FAILED);
  return reinterpret_cast<std::byte *>((reinterpret_cast<std::uintptr_t>(raw) + kSlot - 1) & ~(kSlot - 1));
}

void *alloc(Backend &b, std::size_t size, std::size_t align, bool zero = false, void *at = nullptr) {
  bool commit = false;
  return b.hooks()->alloc(b.hooks(), at, size, align, &zero, &commit, 0);
}

bool overlaps(const Backend &b, void *p, std::size_t size, const std::vector<BadRange> &bad) {
  const auto off = static_cast<std::uint64_t>(static_cast<std::byte *>(p) - b.base());
  for (const auto &r : bad)
    if (r.offset < off + size && off < r.end()) return true;
  return false;
}

// Carves a fixed mix of sizes and alignments until the device is full; returns the bytes
// handed out, checking that no extent touches `bad` and that each is writable.
std::size_t fill(Backend &b, const std::vector<BadRange> &bad) {
  const std::size_t sizes[] = {4096, 8192, 64 << 10, 2 << 20, 12288, 1 << 20};
  std::size_t handed = 0;
  for (int n = 0;; ++n) {
    const std::size_t size = sizes[n % 6];
    const std::size_t align = n % 3 == 0 ? (2u << 20) : 4096;
    void *p = alloc(b, size, align, n % 2 == 0);
    if (p == nullptr) return handed;
    CHECK_FALSE(overlaps(b, p, size, bad));
    std::memset(p, 0xab, size);
    handed += size;
  }
}

}  // namespace

TEST_CASE("extents of every size and alignment never cover a known bad range") {
  const std::vector<BadRange> bad = {{0, 512}, {(3u << 20) + 100, 4096}, {(20u << 20), 2u << 20}};
  std::size_t clean_bytes = 0;
  {  // one backend at a time: each holds the lock on /dev/zero
    auto clean = make_devdax("/dev/zero", 64 << 20, 2 << 20, aligned_slot(), kSlot, {});
    clean_bytes = fill(*clean, {});
  }
  auto b = make_devdax("/dev/zero", 64 << 20, 2 << 20, aligned_slot(), kSlot, bad);
  CHECK(b->description().find("3 known bad ranges excluded") != std::string::npos);
  const std::size_t bad_bytes = fill(*b, bad);
  // Each bad range costs at most itself plus one largest extent and its alignment.
  CHECK(bad_bytes + (2u << 20) + 512 + 4096 + 3 * (4u << 20) >= clean_bytes);
  CHECK(b->refusals() >= 1);
}

TEST_CASE("growing an extent in place onto a bad range is refused") {
  std::byte *slot = aligned_slot();
  auto b = make_devdax("/dev/zero", 16 << 20, 2 << 20, slot, kSlot, {{(4u << 20), 4096}});
  void *p = alloc(*b, 4 << 20, 4096);
  REQUIRE(p == slot);
  CHECK(alloc(*b, 4096, 4096, false, slot + (4 << 20)) == nullptr);  // would cover the bad page
  void *q = alloc(*b, 4096, 4096);
  REQUIRE(q != nullptr);
  CHECK(static_cast<std::byte *>(q) >= slot + (4 << 20) + 4096);
}

TEST_CASE("a device without known bad ranges carves from its start as before") {
  std::byte *slot = aligned_slot();
  auto b = make_devdax("/dev/zero", 16 << 20, 2 << 20, slot, kSlot, {{32u << 20, 4096}});  // past the end
  CHECK(b->description().find("excluded") == std::string::npos);
  CHECK(alloc(*b, 4096, 4096) == slot);
}

TEST_CASE("the child's copy at fork leaves a known bad range unread and keeps the rest") {
  std::byte *slot = aligned_slot();
  auto b = make_devdax("/dev/zero", 16 << 20, 2 << 20, slot, kSlot, {{4u << 20, 4096}});
  auto *before = static_cast<unsigned char *>(alloc(*b, 4 << 20, 4096));
  auto *after = static_cast<unsigned char *>(alloc(*b, 4096, 4096));
  REQUIRE(before == reinterpret_cast<unsigned char *>(slot));
  REQUIRE(after != nullptr);
  std::memset(before, 1, 4 << 20);
  std::memset(after, 2, 4096);
  // Reading the bad page now faults, as reading poison would: the copy must step over it.
  REQUIRE(mprotect(slot + (4 << 20), 4096, PROT_NONE) == 0);
  b->prepare_fork();  // what the heap's fork handler does
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    b->child_after_fork();
    bool ok = before[0] == 1 && before[(4 << 20) - 1] == 1 && after[0] == 2 && after[4095] == 2;
    _exit(ok ? 0 : 1);
  }
  b->parent_after_fork();
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  REQUIRE(mprotect(slot + (4 << 20), 4096, PROT_READ | PROT_WRITE) == 0);
}

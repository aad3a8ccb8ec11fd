// The backends on their own, each over a real slot-sized reservation.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

#include <doctest/doctest.h>

#include "backend/backend.hpp"
#include "support.hpp"
#include "tiermem/error.hpp"

using namespace tiermem::backend;

namespace {

struct Slot {
  static constexpr std::size_t kSize = std::size_t{1} << 30;
  std::byte *p;
  Slot() {
    // Aligned like a heap slot: reserve twice and use the aligned half.
    void *raw = mmap(nullptr, 2 * kSize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
    REQUIRE(raw != MAP_FAILED);
    auto a = (reinterpret_cast<std::uintptr_t>(raw) + kSize - 1) & ~(kSize - 1);
    p = reinterpret_cast<std::byte *>(a);
  }
};

void *alloc(Backend &b, std::size_t size, std::size_t align = 4096, void *at = nullptr) {
  bool zero = false, commit = false;
  return b.hooks()->alloc(b.hooks(), at, size, align, &zero, &commit, 0);
}

using tiermem::test::error_of;

}  // namespace

TEST_CASE("an emulated backend hands out aligned extents until its memfd is full") {
  Slot slot;
  auto b = make_emulated("unit", 8 << 20, slot.p, Slot::kSize);
  CHECK(b->kind() == Kind::emulated);
  CHECK(b->capacity() == (8u << 20));
  void *a = alloc(*b, 2 << 20, 2 << 20);
  REQUIRE(a != nullptr);
  CHECK(reinterpret_cast<std::uintptr_t>(a) % (2 << 20) == 0);
  std::memset(a, 1, 2 << 20);
  void *c = alloc(*b, 4 << 20);
  CHECK(c != nullptr);
  CHECK(alloc(*b, 4 << 20) == nullptr);  // 6 of 8 MiB used
  CHECK(b->refusals() == 1);
  CHECK(b->mapped() == (6u << 20));
  CHECK(alloc(*b, SIZE_MAX - 4096) == nullptr);  // no overflow in the bounds check
}

TEST_CASE("a backend grows in place only at its bump pointer") {
  Slot slot;
  auto b = make_emulated("grow", 8 << 20, slot.p, Slot::kSize);
  auto *a = static_cast<std::byte *>(alloc(*b, 1 << 20));
  REQUIRE(a != nullptr);
  CHECK(alloc(*b, 4096, 4096, a + (2 << 20)) == nullptr);
  CHECK(alloc(*b, 4096, 4096, a + (1 << 20)) == a + (1 << 20));
}

TEST_CASE("a backend limit refuses extents beyond it") {
  Slot slot;
  auto b = make_emulated("lim", 8 << 20, slot.p, Slot::kSize);
  b->set_limit(1 << 20);
  CHECK(alloc(*b, 1 << 20) != nullptr);
  CHECK(alloc(*b, 4096) == nullptr);
  b->set_limit(SIZE_MAX);
  CHECK(alloc(*b, 4096) != nullptr);
}

TEST_CASE("an emulated backend purges by punching a hole, which reads back as zero") {
  Slot slot;
  auto b = make_emulated("purge", 4 << 20, slot.p, Slot::kSize);
  auto *a = static_cast<unsigned char *>(alloc(*b, 1 << 20));
  REQUIRE(a != nullptr);
  std::memset(a, 0xee, 1 << 20);
  CHECK_FALSE(b->hooks()->purge_forced(b->hooks(), a, 1 << 20, 0, 1 << 20, 0));
  CHECK(a[0] == 0);
  CHECK(a[(1 << 20) - 1] == 0);
}

TEST_CASE("an emulated tier larger than the slot is refused naming it") {
  Slot slot;
  std::string msg = error_of([&] { make_emulated("huge", Slot::kSize * 2, slot.p, Slot::kSize); });
  CHECK(msg.find("emulated tier 'huge'") != std::string::npos);
}

TEST_CASE("a node backend binds its slot to the node and refuses a node that does not exist") {
  Slot slot;
  auto b = make_node({0}, NodeMode::bind, slot.p, Slot::kSize);
  CHECK(b->description() == "node 0 (MPOL_BIND)");
  auto *a = static_cast<char *>(alloc(*b, 1 << 20));
  REQUIRE(a != nullptr);
  std::memset(a, 3, 1 << 20);
  CHECK_FALSE(b->hooks()->purge_forced(b->hooks(), a, 1 << 20, 0, 1 << 20, 0));
  CHECK(a[0] == 0);  // MADV_DONTNEED on private anonymous memory
  auto p = make_node({0}, NodeMode::preferred, slot.p, Slot::kSize);
  CHECK(p->description() == "node 0 (MPOL_PREFERRED)");
  std::string msg = error_of([&] { make_node({60}, NodeMode::bind, slot.p, Slot::kSize); });
  CHECK(msg.find("node 60") != std::string::npos);
  CHECK(error_of([&] { make_node({}, NodeMode::bind, slot.p, Slot::kSize); }) != "");
}

using tiermem::test::vm_flags;

TEST_CASE("a node backend turns huge pages on and off over its whole mapping; others cannot") {
  Slot slot;
  auto b = make_node({0}, NodeMode::bind, slot.p, Slot::kSize);
  int on = b->set_huge_pages(true);
  if (on == -EINVAL) {
    MESSAGE("skipped: this kernel has no transparent huge pages");
    return;
  }
  REQUIRE(on == 0);
  CHECK(vm_flags(slot.p).find(" hg") != std::string::npos);  // VM_HUGEPAGE
  CHECK(vm_flags(slot.p + Slot::kSize - 4096).find(" hg") != std::string::npos);
  REQUIRE(b->set_huge_pages(false) == 0);
  CHECK(vm_flags(slot.p).find(" nh") != std::string::npos);  // VM_NOHUGEPAGE
  Slot other;
  auto e = make_emulated("thp", 4 << 20, other.p, Slot::kSize);
  CHECK(e->set_huge_pages(true) == -ENOTSUP);
}

TEST_CASE("a devdax backend reports a gone device, a non-device and a bad alignment") {
  Slot slot;
  std::string gone = error_of(
      [&] { make_devdax("/dev/dax-gone9.9", 1 << 30, 2 << 20, slot.p, Slot::kSize); });
  CHECK(gone.find("/dev/dax-gone9.9 is gone") != std::string::npos);
  std::string file = error_of([&] { make_devdax("/etc/hostname", 1 << 30, 2 << 20, slot.p, Slot::kSize); });
  CHECK(file.find("/etc/hostname is not a character device") != std::string::npos);
  std::string align = error_of([&] { make_devdax("/dev/zero", 1 << 30, 3 << 20, slot.p, Slot::kSize); });
  CHECK(align.find("align 3145728 is not a power of two") != std::string::npos);
  std::string small = error_of([&] { make_devdax("/dev/zero", 1 << 20, 2 << 20, slot.p, Slot::kSize); });
  CHECK(small.find("smaller than its align 2 MiB") != std::string::npos);
}

TEST_CASE("a device-backed tier gives a forked child a private snapshot and stops its growth") {
  // /dev/zero stands in for /dev/daxX.Y: a character device whose MAP_SHARED mapping is
  // shared with a forked child, exactly the hazard the snapshot removes.
  Slot slot;
  auto b = make_devdax("/dev/zero", 64 << 20, 2 << 20, slot.p, Slot::kSize);
  auto *a = static_cast<char *>(alloc(*b, 4 << 20));
  REQUIRE(a != nullptr);
  std::memset(a, 'P', 4 << 20);
  b->prepare_fork();
  pid_t pid = fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    b->child_after_fork();
    bool same = a[0] == 'P' && a[(4 << 20) - 1] == 'P';
    std::memset(a, 'C', 4 << 20);
    bool frozen = alloc(*b, 4096) == nullptr;
    _exit(same && frozen ? 0 : 1);
  }
  b->parent_after_fork();
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(a[0] == 'P');
  CHECK(a[(4 << 20) - 1] == 'P');
  CHECK(alloc(*b, 4096) != nullptr);  // the parent keeps growing
}

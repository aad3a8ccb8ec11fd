// The migrate layer's mechanisms on this machine: a range's memory replaced under the same
// address while threads read and write it, a source that cannot be read, faults that are not
// a fence's, and move_pages to the one node there is.
#include <doctest/doctest.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <thread>
#include <vector>

#include "migrate/fence.hpp"
#include "migrate/move.hpp"
#include "support.hpp"

namespace mig = tiermem::migrate;

namespace {

constexpr std::size_t kChunk = 2u << 20;

struct Memfd {
  int fd;
  explicit Memfd(std::size_t bytes) : fd(::memfd_create("tiermem-test-migrate", MFD_CLOEXEC)) {
    REQUIRE(fd >= 0);
    REQUIRE(::ftruncate(fd, static_cast<off_t>(bytes)) == 0);
  }
  ~Memfd() { ::close(fd); }
};

char *map_shared(int fd, std::size_t bytes) {
  void *p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  REQUIRE(p != MAP_FAILED);
  return static_cast<char *>(p);
}

}  // namespace

TEST_CASE("a range moved to anonymous memory and back keeps every byte and its address") {
  Memfd dev(kChunk);
  char *p = map_shared(dev.fd, kChunk);
  for (std::size_t i = 0; i < kChunk; ++i) p[i] = static_cast<char>(i * 7 + 3);
  REQUIRE(mig::remap_range(p, kChunk, mig::Destination{}).error == 0);
  for (std::size_t i = 0; i < kChunk; i += 4093) REQUIRE(p[i] == static_cast<char>(i * 7 + 3));
  p[5] = 42;  // writable again, and no longer the device's page
  Memfd other(kChunk);
  REQUIRE(mig::remap_range(p, kChunk, mig::Destination{other.fd, 0, -1}).error == 0);
  CHECK(p[5] == 42);
  char byte = 0;
  REQUIRE(::pread(other.fd, &byte, 1, 5) == 1);
  CHECK(byte == 42);  // the bytes now live in the other file's pages
  ::munmap(p, kChunk);
}

TEST_CASE("anonymous memory asked in base pages is advised no huge pages, and keeps the bytes") {
  // A transparent huge page has one soft-dirty bit for its 2 MiB: a promoted unit must stay
  // in 4 KiB pages for its writes to be told apart (the engine asks for base_pages).
  Memfd dev(kChunk);
  char *p = map_shared(dev.fd, kChunk);
  std::memset(p, 9, kChunk);
  mig::Destination to;
  to.base_pages = true;
  REQUIRE(mig::remap_range(p, kChunk, to).error == 0);
  CHECK(tiermem::test::vm_flags(p).find(" nh") != std::string::npos);
  CHECK(p[kChunk - 1] == 9);
  // Without it, the kernel's default holds: no advice either way.
  Memfd dev2(kChunk);
  char *q = map_shared(dev2.fd, kChunk);
  REQUIRE(mig::remap_range(q, kChunk, mig::Destination{}).error == 0);
  CHECK(tiermem::test::vm_flags(q).find(" nh") == std::string::npos);
  ::munmap(p, kChunk);
  ::munmap(q, kChunk);
}

TEST_CASE("writers hammering a range while it moves lose no store and readers never go back") {
  constexpr std::size_t kBytes = 4 * kChunk;
  constexpr int kWriters = 3;
  Memfd dev(kBytes);
  char *p = map_shared(dev.fd, kBytes);
  std::memset(p, 0, kBytes);
  auto *words = reinterpret_cast<std::atomic<std::uint64_t> *>(p);
  const std::size_t nwords = kBytes / sizeof(std::uint64_t);
  std::atomic<bool> stop{false};
  std::vector<std::uint64_t> last(kWriters, 0);
  std::vector<std::thread> threads;
  // Writer w owns words w, w + kWriters, ...: it stores its sequence number into each in turn,
  // so every word it owns ends with one of its last values and never decreases.
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      std::uint64_t seq = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        ++seq;
        for (std::size_t i = static_cast<std::size_t>(w); i < nwords; i += 4096 * kWriters)
          words[i].store(seq, std::memory_order_relaxed);
      }
      last[static_cast<std::size_t>(w)] = seq;
    });
  }
  std::atomic<long> backwards{0};
  threads.emplace_back([&] {
    std::vector<std::uint64_t> seen(nwords / 4096 + 1, 0);
    while (!stop.load(std::memory_order_relaxed)) {
      for (std::size_t i = 0, k = 0; i < nwords; i += 4096, ++k) {
        const std::uint64_t v = words[i].load(std::memory_order_relaxed);
        if (v < seen[k]) backwards.fetch_add(1);
        seen[k] = v;
      }
    }
  });
  Memfd back(kBytes);
  int moves = 0;
  for (int round = 0; round < 12; ++round) {
    for (std::size_t c = 0; c < kBytes; c += kChunk) {
      const mig::Destination to = round % 2 == 0 ? mig::Destination{} : mig::Destination{back.fd, static_cast<off_t>(c), -1};
      const auto r = mig::remap_range(p + c, kChunk, to);
      REQUIRE(r.error == 0);
      ++moves;
    }
  }
  stop = true;
  for (auto &t : threads) t.join();
  CHECK(moves == 48);
  CHECK(backwards.load() == 0);
  for (int w = 0; w < kWriters; ++w) {
    for (std::size_t i = static_cast<std::size_t>(w); i < nwords; i += 4096 * kWriters) {
      const std::uint64_t v = words[i].load();
      INFO("writer " << w << " word " << i);
      // The writer's last pass stored `last` into its first words; the pass before it, at
      // least, reached every word.
      REQUIRE(v + 1 >= last[static_cast<std::size_t>(w)]);
      REQUIRE(v <= last[static_cast<std::size_t>(w)]);
    }
  }
  MESSAGE("writes that waited on a fence: " << mig::fenced_writes());
  ::munmap(p, kBytes);
}

TEST_CASE("a source that cannot be read leaves the range as it was and says where the copy stopped") {
  Memfd dev(kChunk);
  char *p = map_shared(dev.fd, kChunk);
  std::memset(p, 9, kChunk);
  // Past the file's new end the mapping's pages are gone: reading them raises SIGBUS, which
  // the machine-check-safe copy survives as it does poison.
  REQUIRE(::ftruncate(dev.fd, static_cast<off_t>(kChunk / 2)) == 0);
  const auto r = mig::remap_range(p, kChunk, mig::Destination{});
  CHECK(r.error == -EIO);
  CHECK(r.unreadable_at == kChunk / 2);
  p[0] = 1;  // still the old memory, and writable
  char byte = 0;
  REQUIRE(::pread(dev.fd, &byte, 1, 0) == 1);
  CHECK(byte == 1);
  ::munmap(p, kChunk);
}

namespace {
sigjmp_buf g_jump;
std::atomic<int> g_program_faults{0};
void program_handler(int, siginfo_t *, void *) {
  g_program_faults.fetch_add(1);
  siglongjmp(g_jump, 1);
}
}  // namespace

TEST_CASE("a write fault outside every fence goes to the program's own SIGSEGV handler") {
  struct sigaction sa {}, old {};
  sa.sa_sigaction = program_handler;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  REQUIRE(::sigaction(SIGSEGV, &sa, &old) == 0);
  // A fence installs tiermem's handler in front of the program's.
  Memfd dev(kChunk);
  char *fenced = map_shared(dev.fd, kChunk);
  const int slot = mig::fence(fenced, kChunk);
  REQUIRE(slot >= 0);
  void *ro = ::mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(ro != MAP_FAILED);
  if (sigsetjmp(g_jump, 1) == 0) {
    *static_cast<volatile char *>(ro) = 1;  // the program's own bug: its handler must see it
  }
  CHECK(g_program_faults.load() == 1);
  ::mprotect(fenced, kChunk, PROT_READ | PROT_WRITE);
  mig::release_fence(slot);
  ::munmap(ro, 4096);
  ::munmap(fenced, kChunk);
  ::sigaction(SIGSEGV, &old, nullptr);
}

TEST_CASE("bad ranges are refused without fencing anything") {
  char buf[8192];
  CHECK(mig::fence(buf + 1, 4096) == -EINVAL);
  CHECK(mig::fence(nullptr, 0) == -EINVAL);
}

TEST_CASE("move_pages to the node a range already sits on moves every page there") {
  void *p = ::mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(p != MAP_FAILED);
  std::memset(p, 1, kChunk);
  std::size_t stayed = 99;
  CHECK(mig::move_to_node(p, kChunk, 0, &stayed) == 0);
  CHECK(stayed == 0);
  ::munmap(p, kChunk);
}

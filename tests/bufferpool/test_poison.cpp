// Memory errors in frames, made without privileges: a frame's memory is replaced by a shared
// memfd mapping past the file's end, so reading it raises SIGBUS as poison would (the
// technique of tests/safety/bad_mapping.hpp). The pool must retire the frame, reload a
// clean page invisibly and report a dirty one lost.
#include <sys/mman.h>
#include <unistd.h>

#include <set>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "bufferpool/storage.hpp"
#include "tiermem/bufferpool.hpp"
#include "support.hpp"

using tiermem::BufferPool;
using tiermem::test::make_page;
using tiermem::test::page_version;
using tiermem::test::Storage;
using tiermem::test::error_code_of;

namespace {

// Makes `[p, p + n)` fault on access. The retired frame is never freed by the pool, so the
// mapping stays in place until the process exits (closing the fd keeps the mapping).
void poison_frame(std::byte *p, std::size_t n) {
  int fd = memfd_create("tiermem-test-poisoned-frame", MFD_CLOEXEC);
  if (fd < 0) throw std::runtime_error("memfd_create failed");
  void *m = mmap(p, n, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
  close(fd);
  if (m != p) throw std::runtime_error("mmap MAP_FIXED failed");
}

// The pool's options with on_lost appending to `lost`.
BufferPool::Options recording_lost(Storage &st, std::size_t fast, std::size_t slow,
                                   std::vector<std::uint64_t> &lost) {
  auto o = st.options(fast, slow);
  o.on_lost = [&lost](std::uint64_t id) { lost.push_back(id); };
  return o;
}

// Pins page `id`, writes version `version` into it and leaves it dirty; returns its frame.
std::byte *dirty_page(BufferPool &pool, std::uint64_t id, std::uint64_t version) {
  BufferPool::Pin p = pool.pin(id);
  make_page(p.data(), id, version);
  p.mark_dirty();
  return p.data().data();
}

}  // namespace

TEST_CASE("a clean page whose frame is poisoned is reloaded from storage, invisibly") {
  Storage st(16, 4096);
  BufferPool pool(st.options(1, 4));
  std::byte *bad;
  {
    BufferPool::Pin p = pool.pin(0);
    bad = p.data().data();
  }
  poison_frame(bad, 4096);
  pool.pin(1);  // demoting page 0 reads the poisoned frame
  BufferPool::Stats s = pool.stats();
  CHECK(s.retired == 1);
  CHECK(s.demotions == 0);
  CHECK(s.lost == 0);
  BufferPool::Pin p = pool.pin(0);
  CHECK(page_version(p.data(), 0) == 0);
  CHECK(st.reads == 3);  // 0, 1, then 0 again
  p.release();
  // The retired frame never comes back into use.
  std::set<std::byte *> seen;
  for (int round = 0; round < 3; ++round)
    for (std::uint64_t id = 0; id < 16; ++id) seen.insert(pool.pin(id).data().data());
  CHECK(seen.count(bad) == 0);
  CHECK(pool.stats().retired == 1);
}

TEST_CASE("a dirty page whose frame is poisoned is reported lost by page id") {
  Storage st(16, 4096);
  std::vector<std::uint64_t> lost;
  BufferPool pool(recording_lost(st, 1, 4, lost));
  poison_frame(dirty_page(pool, 2, 5), 4096);
  pool.pin(3);
  CHECK(lost == std::vector<std::uint64_t>{2});
  BufferPool::Stats s = pool.stats();
  CHECK(s.retired == 1);
  CHECK(s.lost == 1);
  CHECK(st.writes == 0);
  CHECK(page_version(pool.pin(2).data(), 2) == 0);  // the stored version
}

TEST_CASE("a poisoned dirty page on the slowest tier is reported lost instead of written back") {
  Storage st(16, 4096);
  std::vector<std::uint64_t> lost;
  BufferPool pool(recording_lost(st, 2, 0, lost));
  std::byte *bad = dirty_page(pool, 7, 1);
  pool.pin(8);
  poison_frame(bad, 4096);
  pool.pin(9);  // evicts page 7: its write-back copy fails
  CHECK(lost == std::vector<std::uint64_t>{7});
  CHECK(st.writes == 0);
  CHECK(page_version(st.pages[7], 7) == 0);
  BufferPool::Stats s = pool.stats();
  CHECK(s.retired == 1);
  CHECK(s.tiers[0].used == 1);
  CHECK(page_version(pool.pin(8).data(), 8) == 0);
}

TEST_CASE("a poisoned page found while promoting is reloaded into the fast tier") {
  Storage st(16, 4096);
  auto o = st.options(2, 4);
  o.promote_after = 2;
  BufferPool pool(std::move(o));
  for (std::uint64_t id = 0; id < 4; ++id) pool.pin(id);  // 0 and 1 are on the slow tier
  std::byte *bad = pool.pin(0).data().data();              // first slow hit
  poison_frame(bad, 4096);
  BufferPool::Pin p = pool.pin(0);  // second hit: promotion copies the poisoned frame
  CHECK(page_version(p.data(), 0) == 0);
  BufferPool::Stats s = pool.stats();
  CHECK(s.retired == 1);
  CHECK(s.promotions == 0);
  CHECK(st.reads == 5);
}

TEST_CASE("a read that meets a poisoned clean page reloads it into another frame, invisibly") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 4));
  std::byte *bad = pool.pin(6).data().data();
  poison_frame(bad, 4096);
  std::vector<std::byte> page(4096);
  pool.read(6, 0, page);  // the pin-less copy fails, the pinned one retires the frame
  CHECK(page_version(page, 6) == 0);
  CHECK(st.reads == 2);
  BufferPool::Stats s = pool.stats();
  CHECK(s.retired == 1);
  CHECK(s.lost == 0);
  CHECK(pool.pin(6).data().data() != bad);
  pool.read(6, 0, page);  // and later reads hit the new frame
  CHECK(page_version(page, 6) == 0);
  CHECK(st.reads == 2);
}

TEST_CASE("a read that meets a poisoned dirty page reports it lost and fails with EHWPOISON") {
  Storage st(16, 4096);
  std::vector<std::uint64_t> lost;
  BufferPool pool(recording_lost(st, 4, 0, lost));
  poison_frame(dirty_page(pool, 2, 3), 4096);
  std::vector<std::byte> page(4096);
  auto [code, msg] = error_code_of([&] { pool.read(2, 0, page); });
  CHECK(code == -EHWPOISON);
  CHECK(msg.find("dirty page 2 was lost") != std::string::npos);
  CHECK(lost == std::vector<std::uint64_t>{2});
  CHECK(pool.stats().retired == 1);
  pool.read(2, 0, page);  // the next read gets the stored version
  CHECK(page_version(page, 2) == 0);
}

TEST_CASE("a read of a poisoned page that another pin holds fails and retires nothing") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 0));
  BufferPool::Pin held = pool.pin(1);
  poison_frame(held.data().data(), 4096);
  std::byte b[64];
  auto [code, msg] = error_code_of([&] { pool.read(1, 0, b); });
  CHECK(code == -EHWPOISON);
  CHECK(msg.find("page 1 sits in a frame with a memory error and is pinned") != std::string::npos);
  CHECK(pool.stats().retired == 0);
  held.release();
  pool.read(1, 0, b);  // unpinned now: retired and reloaded
  CHECK(pool.stats().retired == 1);
}

namespace {

// Reads page `id` into `n` bytes of a poisoned buffer: the error must name the buffer.
void check_read_into_poisoned_buffer(BufferPool &pool, std::uint64_t id, std::size_t n) {
  void *m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(m != MAP_FAILED);
  auto *dst = static_cast<std::byte *>(m);
  poison_frame(dst, 4096);
  auto [code, msg] = error_code_of([&] { pool.read(id, 0, std::span<std::byte>(dst, n)); });
  CHECK(code == -EHWPOISON);
  CHECK(msg.find("the buffer given to read page " + std::to_string(id) + " has a memory error") !=
        std::string::npos);
  munmap(m, 4096);
}

}  // namespace

TEST_CASE("a read into a poisoned buffer names the buffer and leaves the frame in use") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 0));
  pool.pin(4);
  check_read_into_poisoned_buffer(pool, 4, 64);
  CHECK(pool.stats().retired == 0);
  std::byte ok[64];
  pool.read(4, 0, ok);
  CHECK(st.reads == 1);
}

// Reads of up to 16 bytes copy inline (not through the copy routine); a fault there must end
// the same ways.
TEST_CASE("short reads survive a poisoned clean page and name a poisoned buffer") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 0));
  std::byte *bad = pool.pin(6).data().data();
  poison_frame(bad, 4096);
  std::byte v[16];  // the page's id and version: the longest inline copy
  pool.read(6, 0, v);  // the inline copy faults, the pinned path reloads the page
  CHECK(page_version(std::span<const std::byte>(v), 6) == 0);
  CHECK(pool.stats().retired == 1);
  CHECK(st.reads == 2);

  check_read_into_poisoned_buffer(pool, 6, 1);
  CHECK(pool.stats().retired == 1);
}

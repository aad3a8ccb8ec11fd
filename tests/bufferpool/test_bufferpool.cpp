// BufferPool semantics: pins, reference counts, demotion, promotion, eviction with
// write-back, storage errors and bad options.
#include <cerrno>
#include <stdexcept>
#include <span>
#include <string>
#include <vector>

#include <doctest/doctest.h>

#include "bufferpool/storage.hpp"
#include "tiermem/bufferpool.hpp"
#include "tiermem/heap.hpp"
#include "support.hpp"

using tiermem::BufferPool;
using tiermem::TierHandle;
using tiermem::test::make_page;
using tiermem::test::page_version;
using tiermem::test::Storage;
using tiermem::test::error_code_of;

namespace {

std::string tier_of(const BufferPool::Pin &p) {
  return TierHandle::of(p.data().data()).name();
}

bool contains(const std::string &s, const char *part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("a page is read from storage once, then hit in the fast tier") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 4));
  {
    BufferPool::Pin p = pool.pin(3);
    CHECK(page_version(p.data(), 3) == 0);
    CHECK(p.data().size() == 4096);
    CHECK(tier_of(p) == "emulated:fast");
  }
  BufferPool::Pin again = pool.pin(3);
  CHECK(page_version(again.data(), 3) == 0);
  BufferPool::Stats s = pool.stats();
  CHECK(st.reads == 1);
  CHECK(s.misses == 1);
  CHECK(s.tiers[0].hits == 1);
  CHECK(s.tiers[0].used == 1);
  CHECK(s.tiers[0].frames == 4);
  CHECK(s.tiers[1].frames == 4);
}

TEST_CASE("a page pinned twice stays in its frame until both pins are released") {
  Storage st(16, 4096);
  BufferPool pool(st.options(2, 2));
  BufferPool::Pin a = pool.pin(0);
  BufferPool::Pin b = pool.pin(0);
  std::byte *where = a.data().data();
  CHECK(b.data().data() == where);
  a.release();
  for (std::uint64_t id = 1; id < 8; ++id) pool.pin(id);  // churn every other frame
  CHECK(b.data().data() == where);
  CHECK(page_version(b.data(), 0) == 0);
  b.release();
  for (std::uint64_t id = 1; id < 8; ++id) pool.pin(id);
  CHECK(pool.stats().demotions > 0);
}

TEST_CASE("when every frame is pinned a pin fails with EBUSY and works once one is released") {
  Storage st(16, 4096);
  BufferPool pool(st.options(1, 1));
  BufferPool::Pin a = pool.pin(0);
  BufferPool::Pin b = pool.pin(1);  // the fast frame is pinned: the miss lands on the slow tier
  CHECK(tier_of(b) == "emulated:slow");
  auto [code, msg] = error_code_of([&] { pool.pin(2); });
  CHECK(code == -EBUSY);
  CHECK(contains(msg, "pinned"));
  a.release();
  BufferPool::Pin c = pool.pin(2);
  CHECK(page_version(c.data(), 2) == 0);
}

TEST_CASE("unpinning a page that is not pinned is an error naming the page") {
  Storage st(16, 4096);
  BufferPool pool(st.options(2, 2));
  auto [code, msg] = error_code_of([&] { pool.unpin(5, false); });
  CHECK(code == -EINVAL);
  CHECK(contains(msg, "page 5 is not pinned"));
  std::byte *p = pool.pin_raw(5);
  CHECK(page_version({p, 4096}, 5) == 0);
  pool.unpin(5, false);
  CHECK(error_code_of([&] { pool.unpin(5, false); }).first == -EINVAL);
}

TEST_CASE("a cold page is demoted to the slow tier instead of being dropped") {
  Storage st(16, 4096);
  BufferPool pool(st.options(2, 8));
  for (std::uint64_t id = 0; id < 6; ++id) pool.pin(id);
  BufferPool::Stats s = pool.stats();
  CHECK(s.demotions == 4);
  CHECK(s.evictions == 0);
  CHECK(s.tiers[0].used == 2);
  CHECK(s.tiers[1].used == 4);
  for (std::uint64_t id = 0; id < 6; ++id) CHECK(page_version(pool.pin(id).data(), id) == 0);
  CHECK(st.reads == 6);  // every page came back from memory, none from storage
}

TEST_CASE("a page hit repeatedly on the slow tier is promoted to the fast tier") {
  Storage st(16, 4096);
  auto o = st.options(2, 8);
  o.promote_after = 2;
  BufferPool pool(std::move(o));
  for (std::uint64_t id = 0; id < 4; ++id) pool.pin(id);  // 0 and 1 go to the slow tier
  {
    BufferPool::Pin p = pool.pin(0);
    CHECK(tier_of(p) == "emulated:slow");
  }
  BufferPool::Pin p = pool.pin(0);
  CHECK(tier_of(p) == "emulated:fast");
  CHECK(page_version(p.data(), 0) == 0);
  BufferPool::Stats s = pool.stats();
  CHECK(s.promotions == 1);
  CHECK(s.tiers[1].hits == 2);
  CHECK(s.tiers[0].used == 2);  // the promotion demoted a fast page to make room
  CHECK(st.reads == 4);
}

TEST_CASE("only the slowest tier evicts, writing dirty pages back") {
  Storage st(16, 4096);
  BufferPool pool(st.options(2, 2));
  {
    BufferPool::Pin p = pool.pin(0);
    make_page(p.data(), 0, 7);
    p.mark_dirty();
  }
  for (std::uint64_t id = 1; id < 10; ++id) pool.pin(id);
  BufferPool::Stats s = pool.stats();
  CHECK(s.evictions == 6);  // 10 pages, 4 frames
  CHECK(s.writebacks == 1);
  CHECK(st.writes == 1);
  CHECK(page_version(st.pages[0], 0) == 7);
  CHECK(page_version(pool.pin(0).data(), 0) == 7);
}

TEST_CASE("flush writes dirty unpinned pages back and leaves them clean") {
  Storage st(16, 4096);
  BufferPool pool(st.options(2, 2));
  std::byte *p = pool.pin_raw(1);
  make_page({p, 4096}, 1, 4);
  pool.unpin(1, true);
  pool.flush();
  CHECK(st.writes == 1);
  CHECK(page_version(st.pages[1], 1) == 4);
  pool.flush();
  CHECK(st.writes == 1);
}

TEST_CASE("a failing write-back reaches the caller and the dirty page stays valid") {
  Storage st(16, 4096);
  BufferPool pool(st.options(1, 0));
  {
    BufferPool::Pin p = pool.pin(0);
    make_page(p.data(), 0, 9);
    p.release(true);
  }
  st.fail_write = -EIO;
  auto [code, msg] = error_code_of([&] { pool.pin(1); });
  CHECK(code == -EIO);
  CHECK(contains(msg, "writing page 0 back failed"));
  CHECK(page_version(pool.pin(0).data(), 0) == 9);
  CHECK(st.reads == 1);
  st.fail_write = 0;
  CHECK(page_version(pool.pin(1).data(), 1) == 0);
  CHECK(page_version(st.pages[0], 0) == 9);
}

TEST_CASE("a failing read reaches the caller and leaves the pool unchanged") {
  Storage st(16, 4096);
  BufferPool pool(st.options(2, 2));
  st.fail_read = -EIO;
  auto [code, msg] = error_code_of([&] { pool.pin(4); });
  CHECK(code == -EIO);
  CHECK(contains(msg, "reading page 4 failed"));
  CHECK(pool.stats().tiers[0].used == 0);
  st.fail_read = 0;
  CHECK(page_version(pool.pin(4).data(), 4) == 0);
}

TEST_CASE("bad options are rejected with errors naming the remedy") {
  Storage st(4, 4096);
  auto with = [&](auto change) {
    auto o = st.options(4, 4);
    change(o);
    return error_code_of([&] { BufferPool pool(std::move(o)); });
  };
  for (std::size_t ps : {0ul, 1000ul, 2048ul, 12288ul, 131072ul}) {
    auto [code, msg] = with([&](BufferPool::Options &o) { o.page_size = ps; });
    CHECK(code == -EINVAL);
    CHECK(contains(msg, "not a power of two from 4096 to 65536"));
  }
  auto zero = with([](BufferPool::Options &o) { o.tiers[1].capacity = 0; });
  CHECK(zero.first == -EINVAL);
  CHECK(contains(zero.second, "holds no page"));
  auto small = with([](BufferPool::Options &o) { o.tiers[0].capacity = 4095; });
  CHECK(small.first == -EINVAL);
  auto unknown = with([](BufferPool::Options &o) { o.tiers[1].spec = "emulated:absent"; });
  CHECK(unknown.first == -ENOENT);
  CHECK(contains(unknown.second, "absent"));
  auto big = with([](BufferPool::Options &o) { o.tiers[0].capacity = std::size_t{1} << 30; });
  CHECK(big.first == -ENOMEM);
  CHECK(contains(big.second, "does not fit tier emulated:fast"));
  auto twice = with([](BufferPool::Options &o) { o.tiers[1].spec = "emulated:fast"; });
  CHECK(twice.first == -EINVAL);
  CHECK(contains(twice.second, "listed twice"));
  auto none = with([](BufferPool::Options &o) { o.tiers.clear(); });
  CHECK(none.first == -EINVAL);
  auto noread = with([](BufferPool::Options &o) { o.read = nullptr; });
  CHECK(noread.first == -EINVAL);
  CHECK(contains(noread.second, "no read callback"));
  auto promote = with([](BufferPool::Options &o) { o.promote_after = 0; });
  CHECK(promote.first == -EINVAL);
}

TEST_CASE("a storage callback that throws leaves the pool usable and the page valid") {
  Storage st(16, 4096);
  auto o = st.options(1, 0);
  bool throw_now = false;
  auto inner_write = o.write;
  o.write = [&](std::uint64_t id, std::span<const std::byte> p) {
    if (throw_now) throw std::runtime_error("disk on fire");
    return inner_write(id, p);
  };
  BufferPool pool(std::move(o));
  {
    BufferPool::Pin p = pool.pin(0);
    make_page(p.data(), 0, 2);
    p.mark_dirty();
  }
  throw_now = true;
  CHECK_THROWS_AS(pool.pin(1), std::runtime_error);
  CHECK(page_version(pool.pin(0).data(), 0) == 2);
  throw_now = false;
  CHECK(page_version(pool.pin(1).data(), 1) == 0);
  CHECK(page_version(st.pages[0], 0) == 2);
  CHECK(pool.stats().tiers[0].used == 1);
}

TEST_CASE("a page pinned the most times a page can be refuses one more pin with EOVERFLOW") {
  Storage st(4, 4096);
  BufferPool pool(st.options(2, 0));
  constexpr std::size_t kMost = std::size_t{1} << 20;
  for (std::size_t i = 0; i < kMost; ++i) pool.pin_raw(1);
  auto [code, msg] = error_code_of([&] { pool.pin_raw(1); });
  CHECK(code == -EOVERFLOW);
  CHECK(contains(msg, "page 1 is pinned 1048576 times"));
  pool.unpin(1, false);
  CHECK(page_version({pool.pin_raw(1), 4096}, 1) == 0);  // room for one again
  for (std::size_t i = 0; i < kMost; ++i) pool.unpin(1, false);
  CHECK(error_code_of([&] { pool.unpin(1, false); }).first == -EINVAL);
  CHECK(page_version(pool.pin(0).data(), 0) == 0);
}

TEST_CASE("read copies part of a page, loading it on a miss and counting later reads as hits") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 4));
  std::vector<std::byte> whole(4096);
  pool.read(5, 0, whole);  // a miss: loaded from storage
  CHECK(page_version(whole, 5) == 0);
  CHECK(st.reads == 1);
  std::byte part[100];
  pool.read(5, 1000, part);  // a hit without a pin
  for (std::size_t i = 0; i < sizeof part; ++i)
    CHECK(part[i] == tiermem::test::fill_byte(5, 0, 1000 + i));
  pool.read(5, 4096, std::span<std::byte>());  // an empty read at the end is allowed
  BufferPool::Stats s = pool.stats();
  CHECK(st.reads == 1);
  CHECK(s.misses == 1);
  CHECK(s.tiers[0].hits == 2);
  // A read keeps the page from looking cold: it sets CLOCK's reference bit like a pin.
  {
    BufferPool::Pin p = pool.pin(5);
    make_page(p.data(), 5, 9);
    p.mark_dirty();
  }
  pool.read(5, 0, whole);
  CHECK(page_version(whole, 5) == 9);
}

TEST_CASE("read on the slow tier goes through a pin, so its hits promote the page") {
  Storage st(16, 4096);
  auto o = st.options(2, 4);
  o.promote_after = 2;
  BufferPool pool(std::move(o));
  for (std::uint64_t id = 0; id < 4; ++id) pool.pin(id);  // 0 and 1 are demoted
  CHECK(tier_of(pool.pin(0)) == "emulated:slow");             // first slow hit
  std::byte b[16];
  pool.read(0, 0, b);  // second slow hit: promoted
  CHECK(pool.stats().promotions == 1);
  CHECK(tier_of(pool.pin(0)) == "emulated:fast");
  CHECK(page_version(pool.pin(0).data(), 0) == 0);
}

TEST_CASE("a read past the page is refused naming the page, the range and the size") {
  Storage st(16, 4096);
  BufferPool pool(st.options(4, 0));
  std::byte b[16];
  auto [code, msg] = error_code_of([&] { pool.read(3, 4090, b); });
  CHECK(code == -EINVAL);
  CHECK(contains(msg, "16 bytes at offset 4090 of page 3"));
  CHECK(contains(msg, "keep offset + size within the page"));
  CHECK(error_code_of([&] { pool.read(3, 5000, std::span<std::byte>()); }).first == -EINVAL);
  CHECK(st.reads == 0);  // refused before anything was loaded
  // A failing storage read reaches the reader as it reaches a pin.
  st.fail_read = -EIO;
  auto [rcode, rmsg] = error_code_of([&] { pool.read(4, 0, b); });
  CHECK(rcode == -EIO);
  CHECK(contains(rmsg, "reading page 4 failed"));
}

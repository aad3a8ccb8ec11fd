// tm_pool_poison_probe: real hardware poison in buffer-pool frames, for the VM scenario
// tests/vm/scenarios/pool-poison.sh (root; the kernel's MADV_HWPOISON injection).
//
//   tm_pool_poison_probe [FAST SLOW]      tier specs, default node:0 node:1
//   tm_pool_poison_probe --short-read-page|--short-read-buffer [FAST SLOW]
//
// It refuses to run outside the VM harness (TIERMEM_VM_SHARE unset): the poison is real.
//
// Builds a pool of 4 KiB pages on two tiers (4 frames fast, 8 slow), loads a clean page and a
// dirty one into the fast tier, poisons both frames with MADV_HWPOISON and pins new pages
// until the pool demotes them (the demotion reads each frame with tm_copy_mc and meets the
// poison). Then checks, one line per check ("ok: ..." or "FAIL: ..."): both frames retired
// and recorded as poison; the dirty page reported lost by id through on_lost and never
// written back; the clean page reloaded from storage with its content intact; 5000 later
// pins (with writes) never get a retired frame and always see the expected content; after a
// flush storage holds every page's last version. Then read() meets poison in two more
// fast-tier frames: the clean page is reloaded, the dirty one reported lost (EHWPOISON).
// The --short-read modes check read()'s inline copy of up to 16 bytes, which runs only while
// the process has no poison on record: a fresh process poisons a clean page's fast frame
// (-page) or the caller's buffer (-buffer) and reads 16 bytes, so the first poison it meets
// is met by that copy. Exit 0 when all pass.
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#include "bufferpool/storage.hpp"
#include "tiermem/bufferpool.hpp"
#include "tiermem/heap.hpp"
#include "tiermem/tiermem.h"

using tiermem::BufferPool;
using tiermem::test::make_page;
using tiermem::test::page_version;
using tiermem::test::Storage;

namespace {

int failures = 0;
void check(bool ok, const std::string &what) {
  std::printf("%s: %s\n", ok ? "ok" : "FAIL", what.c_str());
  std::fflush(stdout);
  if (!ok) ++failures;
}

// Installed before tiermem's handler, which passes on every SIGBUS it does not resolve: a
// plain load of poison by the pool (instead of its machine-check-safe copy) ends here.
void unexpected_sigbus(int, siginfo_t *si, void *) {
  char m[160];
  int n = std::snprintf(m, sizeof m, "FAIL: unexpected SIGBUS code %d at %p: the pool loaded poison\n",
                        si->si_code, si->si_addr);
  if (n > 0) (void)!write(1, m, static_cast<std::size_t>(n));
  _exit(3);
}

constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kPages = 48;

void install_unexpected_sigbus() {
  struct sigaction sa {};
  sa.sa_sigaction = unexpected_sigbus;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGBUS, &sa, nullptr);
}

bool hwpoison(void *p, const char *what) {
  if (madvise(p, kPage, MADV_HWPOISON) == 0) return true;
  std::printf("FAIL: madvise(MADV_HWPOISON) on %s %p: %s (root and CONFIG_MEMORY_FAILURE needed)\n",
              what, p, std::strerror(errno));
  return false;
}

// read() of 16 bytes of page 3 whose fast-tier frame (into_buffer false) or whose destination
// (true) is the first poison this process meets.
int short_read(const std::string &fast, const std::string &slow, bool into_buffer) {
  Storage st(kPages, kPage);
  int reads = 0;
  BufferPool::Options o;
  o.page_size = kPage;
  o.tiers = {{fast, 4 * kPage}, {slow, 8 * kPage}};
  o.read = [&](std::uint64_t id, std::span<std::byte> p) {
    int rc = st.read(id, p);
    if (rc == 0) ++reads;
    return rc;
  };
  BufferPool pool(std::move(o));
  std::byte *frame = pool.pin(3).data().data();
  std::byte v[16];
  if (!into_buffer) {
    if (!hwpoison(frame, "the frame of page 3")) return 1;
    check(tm_poison_contains(frame, kPage) == 0,
          "no poison on record before the read (the inline copy runs)");
    pool.read(3, 0, v);
    check(page_version(std::span<const std::byte>(v), 3) == 0 && reads == 2,
          "16-byte read() of page 3 in a poisoned frame: reloaded from storage, content intact");
    check(pool.stats().retired == 1 && tm_poison_contains(frame, kPage) == 1,
          "the frame was retired and recorded as poison");
  } else {
    void *m = mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED) return 1;
    std::memset(m, 1, kPage);  // a page to poison
    if (!hwpoison(m, "the caller's buffer")) return 1;
    check(tm_poison_contains(m, kPage) == 0,
          "no poison on record before the read (the inline copy runs)");
    std::string msg;
    try {
      pool.read(3, 0, std::span<std::byte>(static_cast<std::byte *>(m), 16));
    } catch (const tiermem::Error &e) {
      msg = e.what();
      std::printf("read into the poisoned buffer: %s\n", e.what());
    }
    check(msg.find("the buffer given to read page 3 has a memory error") != std::string::npos,
          "16-byte read() into a poisoned buffer fails naming the buffer");
    check(pool.stats().retired == 0, "the page's frame stays in use");
    pool.read(3, 0, v);
    check(page_version(std::span<const std::byte>(v), 3) == 0 && reads == 1,
          "a read into a good buffer then hits the same frame");
  }
  std::printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::string mode = argc > 1 && std::strncmp(argv[1], "--", 2) == 0 ? argv[1] : "";
  if (!mode.empty()) --argc, ++argv;
  if ((argc != 1 && argc != 3) ||
      (!mode.empty() && mode != "--short-read-page" && mode != "--short-read-buffer")) {
    std::fprintf(stderr, "usage: %s [--short-read-page|--short-read-buffer] [FAST SLOW]\n",
                 argv[0]);
    return 2;
  }
  // MADV_HWPOISON poisons real memory for good (until reboot): only in the VM guest.
  if (std::getenv("TIERMEM_VM_SHARE") == nullptr) {
    std::fprintf(stderr, "%s: poisons real memory; run it in the VM: tests/vm/run-scenario pool-poison\n",
                 argv[0]);
    return 2;
  }
  std::string fast = argc == 3 ? argv[1] : "node:0";
  std::string slow = argc == 3 ? argv[2] : "node:1";

  install_unexpected_sigbus();
  if (!mode.empty()) {
    try {
      return short_read(fast, slow, mode == "--short-read-buffer");
    } catch (const std::exception &e) {
      std::printf("FAIL: %s\n", e.what());
      return 1;
    }
  }

  Storage st(kPages, kPage);
  std::vector<int> reads_of(kPages, 0), writes_of(kPages, 0);
  std::vector<std::uint64_t> lost;
  BufferPool::Options o;
  o.page_size = kPage;
  o.tiers = {{fast, 4 * kPage}, {slow, 8 * kPage}};
  o.read = [&](std::uint64_t id, std::span<std::byte> p) {
    int rc = st.read(id, p);
    if (rc == 0) ++reads_of[id];
    return rc;
  };
  o.write = [&](std::uint64_t id, std::span<const std::byte> p) {
    ++writes_of[id];
    return st.write(id, p);
  };
  o.on_lost = [&](std::uint64_t id) { lost.push_back(id); };

  try {
    BufferPool pool(std::move(o));
    BufferPool::Stats s0 = pool.stats();
    std::printf("tiers: %s (%zu frames), %s (%zu frames)\n", s0.tiers[0].name.c_str(),
                s0.tiers[0].frames, s0.tiers[1].name.c_str(), s0.tiers[1].frames);

    // (a) clean page 0 and (b) dirty page 1 (version 5), both on the fast tier.
    std::byte *clean_frame, *dirty_frame;
    {
      BufferPool::Pin p = pool.pin(0);
      clean_frame = p.data().data();
      check(page_version(p.data(), 0) == 0, "page 0 loaded with its stored content");
    }
    {
      BufferPool::Pin p = pool.pin(1);
      dirty_frame = p.data().data();
      make_page(p.data(), 1, 5);
      p.mark_dirty();
    }
    check(pool.stats().tiers[0].used == 2, "pages 0 and 1 are on the fast tier");

    for (std::byte *f : {clean_frame, dirty_frame})
      if (!hwpoison(f, "frame")) return 1;
    std::printf("poisoned the frames of clean page 0 (%p) and dirty page 1 (%p)\n",
                static_cast<void *>(clean_frame), static_cast<void *>(dirty_frame));

    // New pages fill the fast tier: CLOCK demotes pages 0 and 1, copying their frames.
    std::uint64_t next = 2;
    while (pool.stats().retired < 2 && next < 16) {
      BufferPool::Pin p = pool.pin(next);
      check(page_version(p.data(), next) == 0, "page " + std::to_string(next) + " loaded intact");
      ++next;
    }
    BufferPool::Stats s = pool.stats();
    std::printf("after %llu new pages: retired %llu lost %llu demotions %llu\n",
                static_cast<unsigned long long>(next - 2), static_cast<unsigned long long>(s.retired),
                static_cast<unsigned long long>(s.lost), static_cast<unsigned long long>(s.demotions));
    check(s.retired == 2, "both poisoned frames retired (stats().retired " + std::to_string(s.retired) + ")");
    check(s.lost == 1, "one dirty page lost (stats().lost " + std::to_string(s.lost) + ")");
    check(lost == std::vector<std::uint64_t>{1}, "on_lost was called once, with page id 1 (" +
                                                     std::to_string(lost.size()) + " calls)");
    check(tm_poison_contains(clean_frame, kPage) == 1 && tm_poison_contains(dirty_frame, kPage) == 1,
          "tiermem recorded both frames as poison (the copy met real hardware poison)");
    check(writes_of[1] == 0 && page_version(st.pages[1], 1) == 0,
          "the lost dirty page was not written back: storage still holds version 0");

    {
      BufferPool::Pin p = pool.pin(0);
      check(p.data().data() != clean_frame && page_version(p.data(), 0) == 0,
            "clean page 0 reloaded from storage into another frame, content intact");
      check(reads_of[0] == 2, "page 0 was read from storage again (" + std::to_string(reads_of[0]) + " reads)");
    }
    {
      BufferPool::Pin p = pool.pin(1);
      check(p.data().data() != dirty_frame && page_version(p.data(), 1) == 0,
            "lost page 1 pinned again reads its stored version 0");
    }

    // Thousands of later pins, a hot set and writes: every copy path runs (demotion,
    // promotion, eviction with write-back) and no pin ever gets a retired frame.
    std::vector<std::uint64_t> expect(kPages, 0);
    std::uint32_t x = 12345;
    int reused = 0, bad_content = 0;
    constexpr int kPins = 5000;
    for (int i = 0; i < kPins; ++i) {
      x = x * 1664525u + 1013904223u;
      std::uint64_t id = (x >> 8) % 10 < 7 ? (x >> 12) % 12 : (x >> 12) % kPages;
      BufferPool::Pin p = pool.pin(id);
      if (p.data().data() == clean_frame || p.data().data() == dirty_frame) ++reused;
      if (page_version(p.data(), id) != static_cast<std::int64_t>(expect[id])) ++bad_content;
      if (i % 5 == 0) {
        make_page(p.data(), id, ++expect[id]);
        p.mark_dirty();
      }
    }
    s = pool.stats();
    check(reused == 0, std::to_string(kPins) + " pins never got a retired frame (" + std::to_string(reused) + " did)");
    check(bad_content == 0, std::to_string(kPins) + " pins all saw their page's latest content (" +
                                std::to_string(bad_content) + " did not)");
    std::printf("after the pins: demotions %llu promotions %llu evictions %llu writebacks %llu misses %llu\n",
                static_cast<unsigned long long>(s.demotions), static_cast<unsigned long long>(s.promotions),
                static_cast<unsigned long long>(s.evictions), static_cast<unsigned long long>(s.writebacks),
                static_cast<unsigned long long>(s.misses));
    check(s.demotions > 0 && s.promotions > 0 && s.evictions > 0 && s.writebacks > 0,
          "the pins moved pages between tiers and wrote dirty ones back");
    check(s.retired == 2 && s.lost == 1 && lost.size() == 1,
          "still 2 frames retired and 1 page lost after the pins");

    pool.flush();
    int stale = 0;
    for (std::uint64_t id = 0; id < kPages; ++id) {
      if (page_version(st.pages[id], id) != static_cast<std::int64_t>(expect[id])) ++stale;
    }
    check(stale == 0, "after flush() storage holds every page's latest version (" +
                          std::to_string(stale) + " pages differ)");

    // read(): its pin-less copy meets real poison in a fast-tier frame. A clean page is
    // reloaded into another frame; a dirty one is reported lost, and the read fails.
    std::string fast_name = s0.tiers[0].name;
    std::vector<std::uint64_t> on_fast;
    for (std::uint64_t id = 0; id < kPages && on_fast.empty(); ++id) {
      BufferPool::Pin p = pool.pin(id);
      if (tiermem::TierHandle::of(p.data().data()).name() == fast_name) on_fast.push_back(id);
    }
    check(on_fast.size() == 1, "a page found on the fast tier for read()");
    if (on_fast.size() == 1) {
      std::uint64_t rc_id = on_fast[0], rd_id = rc_id;
      std::byte *rc_frame = pool.pin(rc_id).data().data();
      check(madvise(rc_frame, kPage, MADV_HWPOISON) == 0, "MADV_HWPOISON on clean page's frame");
      int reads_before = reads_of[rc_id];
      std::vector<std::byte> page(kPage);
      pool.read(rc_id, 0, page);
      check(page_version(page, rc_id) == static_cast<std::int64_t>(expect[rc_id]) &&
                reads_of[rc_id] == reads_before + 1,
            "read() of clean page " + std::to_string(rc_id) +
                " in a poisoned frame reloaded it from storage, content intact");
      check(pool.pin(rc_id).data().data() != rc_frame, "the reloaded page is in another frame");
      // The dirty page is poisoned only now: reloading the clean page above may have demoted
      // it, and a demotion that meets poison reports the page lost itself.
      for (std::uint64_t id = 0; id < kPages; ++id) {  // one still on the fast tier
        if (id == rc_id) continue;
        BufferPool::Pin p = pool.pin(id);
        if (tiermem::TierHandle::of(p.data().data()).name() == fast_name) {
          rd_id = id;
          break;
        }
      }
      std::byte *rd_frame;
      {
        BufferPool::Pin p = pool.pin(rd_id);
        rd_frame = p.data().data();
        make_page(p.data(), rd_id, ++expect[rd_id]);
        p.mark_dirty();
      }
      check(tiermem::TierHandle::of(rd_frame).name() == fast_name &&
                madvise(rd_frame, kPage, MADV_HWPOISON) == 0,
            "MADV_HWPOISON on the fast-tier frame of dirty page " + std::to_string(rd_id));
      int code = 0;
      try {
        pool.read(rd_id, 0, page);
      } catch (const tiermem::Error &e) {
        code = e.code();
        std::printf("read of the dirty page: %s\n", e.what());
      }
      check(code == -EHWPOISON, "read() of dirty page " + std::to_string(rd_id) +
                                     " in a poisoned frame fails with EHWPOISON");
      check(lost.size() == 2 && lost[1] == rd_id, "on_lost was told page " + std::to_string(rd_id));
      check(tm_poison_contains(rc_frame, kPage) == 1 && tm_poison_contains(rd_frame, kPage) == 1,
            "tiermem recorded both frames as poison");
      s = pool.stats();
      check(s.retired == 4 && s.lost == 2, "4 frames retired, 2 pages lost (" +
                                               std::to_string(s.retired) + ", " +
                                               std::to_string(s.lost) + ")");
      pool.read(rd_id, 0, page);
      check(page_version(page, rd_id) == static_cast<std::int64_t>(expect[rd_id] - 1),
            "the lost page read again gives its stored version");
    }
  } catch (const std::exception &e) {
    std::printf("FAIL: %s\n", e.what());
    return 1;
  }
  std::printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}

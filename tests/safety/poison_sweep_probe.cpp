// tm_poison_sweep_probe: real hardware poison in every page a tier's backend mapped, under a
// live workload, for the VM scenario tests/vm/scenarios/poison-sweep-kmem.sh (root; the
// kernel's MADV_HWPOISON injection; a node tier: its pages are private anonymous memory).
//
//   tm_poison_sweep_probe SPEC NODE [MAX_PAGES]
//
// Allocates a workload of small and large blocks on tier SPEC (its pages on NUMA node NODE),
// frees a third of them (so the mapped range holds live blocks and free memory), and shows
// that jemalloc's metadata for the tier (ExtentMap's DRAM mappings) lies outside the tier's
// slot and on no page of NODE. Then, for each page of the backend's mapped range (every page
// while there are at most MAX_PAGES, default 4096; else every k-th page plus the first and
// last page of every extent), a forked child takes its own copy of the page (a write of the
// byte it holds: the page is then the child's alone, so the parent keeps a clean copy),
// checks it sits on NODE, poisons it with MADV_HWPOISON, and exercises the heap: every live
// block is read with tm_copy_mc (the bytes before the page checked), every block freed, the
// workload allocated and freed again, the statistics read. The child passes when the outcome
// is one of the two the heap documents:
//   reported user block: live blocks cover the page; their copies stop at the page, the
//     other blocks read in full, the tm_on_poison callback ran once naming the extent around
//     the page (a large block itself, or the slab of small ones) and the tier, freeing
//     quarantines exactly the blocks covering the page, and no later allocation overlaps it;
//   free memory: no live block covers the page; every block reads in full, no callback ran,
//     nothing is quarantined, and the heap keeps allocating and freeing.
// Anything else (a child killed by a signal, SIGBUS reaching the program unreported, a check
// failing) fails the run. Prints one "FAIL: ..." line per failing page and the counts; exit 0
// when every page passed.
#include <numaif.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "heap/extent_map.hpp"
#include "heap/heap.hpp"
#include "heap/owner.hpp"
#include "heap/slots.hpp"
#include "poison_probe_support.hpp"
#include "tiermem/tiermem.h"

namespace {

using namespace tiermem::test;

constexpr std::uintptr_t kPage = 4096;

// The node each page of [start, start + pages * kPage) sits on (-ENOENT: not present).
std::vector<int> nodes_of(std::uintptr_t start, std::size_t pages) {
  std::vector<void *> addrs(pages);
  for (std::size_t i = 0; i < pages; ++i) addrs[i] = reinterpret_cast<void *>(start + i * kPage);
  std::vector<int> status(pages, -1);
  if (pages != 0 && move_pages(0, pages, addrs.data(), nullptr, status.data(), 0) != 0) {
    std::printf("FAIL: move_pages: %s\n", std::strerror(errno));
    std::exit(1);
  }
  return status;
}

// The workload's sizes, the same in the parent and (re-allocated) in the child.
std::vector<std::size_t> workload_sizes() {
  std::mt19937 rng(16);
  std::vector<std::size_t> sizes;
  // Small enough that every page of the range is poisoned in turn within the CI budget
  // (about 600 pages; each child costs a fork and a pass over the workload under TCG).
  for (std::size_t i = 0; i < 300; ++i) {
    sizes.push_back(i % 25 == 0 ? 16384 + rng() % (64u << 10) : 16 + rng() % 3000);
  }
  return sizes;
}

// Child: the checks above for `page`, given the live blocks covering it. Exit status 0: passed.
[[noreturn]] void poison_and_exercise(tm_tier *tier, std::uintptr_t page,
                                      const std::vector<Block> &live,
                                      const std::vector<std::size_t> &covering, unsigned node) {
  auto say = [&](const std::string &what) {
    std::printf("FAIL: page %#zx (%s): %s\n", static_cast<size_t>(page),
                covering.empty() ? "free" : "in a live block", what.c_str());
    std::fflush(stdout);
    _exit(1);
  };
  auto *byte = reinterpret_cast<volatile unsigned char *>(page);
  *byte = *byte;  // the child's own copy from now on (or a fresh page where none was yet)
  if (int on = nodes_of(page, 1)[0]; on != static_cast<int>(node)) {
    say("the page sits on node " + std::to_string(on) + ", not on the tier's node " +
        std::to_string(node));
  }
  if (madvise(reinterpret_cast<void *>(page), kPage, MADV_HWPOISON) != 0) {
    say(std::string("madvise(MADV_HWPOISON): ") + std::strerror(errno) +
        " (root and CONFIG_MEMORY_FAILURE needed)");
  }

  static std::vector<unsigned char> dst;
  for (std::size_t i = 0; i < live.size(); ++i) {
    const Block &b = live[i];
    dst.resize(b.n);
    const std::size_t left = tm_copy_mc(dst.data(), b.p, b.n);
    const std::size_t good = b.n - left;
    const bool covers = std::find(covering.begin(), covering.end(), i) != covering.end();
    const auto start = reinterpret_cast<std::uintptr_t>(b.p);
    if (covers && (left == 0 || start + good != std::max(start, page))) {
      say("the copy of block " + std::to_string(start) + " (" + std::to_string(b.n) +
          " bytes) left " + std::to_string(left) + " bytes: it did not stop at the page");
    }
    if (!covers && left != 0) {
      say("the copy of block " + std::to_string(start) + ", which does not cover the page, left " +
          std::to_string(left) + " bytes");
    }
    // The bytes before the page, as written (the others are the child's untouched copies).
    for (std::size_t k = 0; covers && k < good; ++k) {
      if (dst[k] != pattern(b.seed, k))
        say("block " + std::to_string(start) + " changed at byte " + std::to_string(k));
    }
  }
  if (covering.empty()) {
    if (cb_count != 0)
      say("tm_on_poison ran " + std::to_string(cb_count) + " time(s) for free memory");
  } else {
    const auto s = reinterpret_cast<std::uintptr_t>(cb_ptr);
    if (cb_count != 1 || !(s <= page && page + kPage <= s + cb_size) ||
        tm_tier_of(cb_ptr) != tier || cb_tier != tier->rank) {
      char buf[200];
      std::snprintf(buf, sizeof buf,
                    "tm_on_poison: %d call(s), last ptr %p size %zu tier %d (want one naming the "
                    "page, tier rank %d)",
                    cb_count, cb_ptr, static_cast<size_t>(cb_size), cb_tier, tier->rank);
      say(buf);
    }
  }

  const tm_tier_stats before = stats(tier);
  for (const Block &b : live) tm_free(b.p);
  const tm_tier_stats after = stats(tier);
  const std::uint64_t quarantined = after.quarantined_blocks - before.quarantined_blocks;
  if (quarantined != covering.size()) {
    say("freeing the workload quarantined " + std::to_string(quarantined) + " block(s), not the " +
        std::to_string(covering.size()) + " covering the page");
  }
  std::vector<void *> again;
  for (std::size_t n : workload_sizes()) {
    void *q = tm_malloc(tier, n);
    if (q == nullptr) say(std::string("an allocation after the poison failed: ") + tm_last_error());
    if (!covering.empty() &&
        overlaps(reinterpret_cast<std::uintptr_t>(q), tm_usable_size(q), page, kPage)) {
      say("a later allocation overlaps the reported page");
    }
    again.push_back(q);
  }
  for (void *q : again) tm_free(q);
  char *json = tm_stats_json();
  if (json == nullptr) say(std::string("tm_stats_json: ") + tm_last_error());
  std::free(json);
  std::fflush(stdout);
  _exit(0);
}

}  // namespace

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SPEC NODE [MAX_PAGES]\n", argv[0]);
    return 2;
  }
  const unsigned node = static_cast<unsigned>(std::strtoul(argv[2], nullptr, 0));
  const std::size_t max_pages = argc > 3 ? std::strtoull(argv[3], nullptr, 0) : 4096;
  if (max_pages == 0) {
    std::fprintf(stderr, "tm_poison_sweep_probe: MAX_PAGES must be at least 1\n");
    return 2;
  }
  // The program's own handler (installed before tiermem's): SIGBUS that tiermem passes on
  // ends the child with status 3, an outcome the sweep counts as a failure.
  install_program_handler();
  tm_on_poison(on_poison, nullptr);
  tm_tier *tier = tm_tier_find(argv[1]);
  if (tier == nullptr) {
    std::fprintf(stderr, "%s\n", tm_last_error());
    return 2;
  }

  std::vector<Block> live;
  std::size_t seed = 0;
  for (std::size_t n : workload_sizes()) {
    auto *p = static_cast<unsigned char *>(tm_malloc(tier, n));
    if (p == nullptr) {
      std::printf("FAIL: allocation of %zu bytes on %s: %s\n", n, argv[1], tm_last_error());
      return 1;
    }
    live.push_back({p, tm_usable_size(p), ++seed});
  }
  for (std::size_t i = live.size(); i-- > 0;) {
    if (i % 3 == 1) {
      tm_free(live[i].p);
      live.erase(live.begin() + static_cast<std::ptrdiff_t>(i));
    }
  }
  for (const Block &b : live) fill(b);  // n is the usable size: the bytes a block covers

  const auto base = reinterpret_cast<std::uintptr_t>(tier->backend->base());
  const std::size_t mapped = tier->backend->mapped();
  const std::size_t pages = mapped / kPage;
  const auto slot_lo = reinterpret_cast<std::uintptr_t>(tiermem::heap::slot_address(tier->slot));
  const auto slot_hi = slot_lo + tiermem::heap::slot_size();
  std::size_t live_bytes = 0;
  for (const Block &b : live) live_bytes += b.n;
  std::printf("tier %s: mapped range [%#zx, %#zx) = %zu pages; %zu live blocks (%zu bytes)\n",
              tm_tier_name(tier), static_cast<size_t>(base), static_cast<size_t>(base + mapped),
              pages, live.size(), live_bytes);
  check(pages > 0 && mapped % kPage == 0, "the backend mapped whole pages");

  // jemalloc's metadata for the tier: outside the slot and on no page of the tier's node.
  const tiermem::heap::ExtentMap &map = *tier->extents;
  std::size_t meta_pages = 0, meta_on_tier = 0, meta_present = 0;
  bool meta_outside = true;
  for (std::size_t i = 0; i < map.meta_count(); ++i) {
    auto [s, e] = map.meta(i);
    meta_outside = meta_outside && (e <= slot_lo || s >= slot_hi);
    for (int on : nodes_of(s, (e - s) / kPage)) {
      ++meta_pages;
      meta_present += on >= 0;
      meta_on_tier += on == static_cast<int>(node);
    }
  }
  check(map.meta_count() > 0 && meta_outside,
        "jemalloc's metadata for the tier: " + std::to_string(map.meta_count()) +
            " mapping(s) outside the tier's slot");
  check(meta_present > 0 && meta_on_tier == 0,
        std::to_string(meta_pages) + " metadata pages, " + std::to_string(meta_present) +
            " present, " + std::to_string(meta_on_tier) + " on node " + std::to_string(node));

  // The mapped range as the parent holds it: only the tier's node, or not yet touched.
  std::size_t on_node = 0, absent = 0, elsewhere = 0;
  for (int on : nodes_of(base, pages)) {
    on_node += on == static_cast<int>(node);
    absent += on < 0;
    elsewhere += on >= 0 && on != static_cast<int>(node);
  }
  check(elsewhere == 0, "the mapped range's pages: " + std::to_string(on_node) + " on node " +
                            std::to_string(node) + ", " + std::to_string(absent) +
                            " not touched yet, " + std::to_string(elsewhere) + " elsewhere");

  // Which pages: all, or a stride plus every extent's first and last page.
  std::set<std::uintptr_t> sample;
  const std::size_t stride = (pages + max_pages - 1) / max_pages;
  for (std::size_t i = 0; i < pages; i += stride) sample.insert(base + i * kPage);
  std::size_t extents = 0;
  for (std::uintptr_t a = base; a < base + mapped;) {
    tiermem::heap::Extent e;
    if (!tiermem::heap::extent_at(reinterpret_cast<void *>(a), &e)) {
      a += kPage;  // carved but not an extent jemalloc handed out yet
      continue;
    }
    const auto s = reinterpret_cast<std::uintptr_t>(e.start);
    ++extents;
    sample.insert(s);
    sample.insert(s + e.size - kPage);
    a = std::max(a + kPage, s + e.size);
  }
  std::printf(
      "sampling %zu of %zu pages (stride %zu, plus the first and last page of %zu extents)\n",
      sample.size(), pages, stride, extents);
  std::fflush(stdout);

  std::size_t reported = 0, free_pages = 0, failed = 0;
  for (std::uintptr_t page : sample) {
    std::vector<std::size_t> covering;
    for (std::size_t i = 0; i < live.size(); ++i) {
      if (overlaps(reinterpret_cast<std::uintptr_t>(live[i].p), live[i].n, page, kPage))
        covering.push_back(i);
    }
    pid_t pid = fork();
    if (pid < 0) {
      std::printf("FAIL: fork: %s\n", std::strerror(errno));
      return 1;
    }
    if (pid == 0) poison_and_exercise(tier, page, live, covering, node);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
      ++(covering.empty() ? free_pages : reported);
      continue;
    }
    ++failed;
    if (WIFSIGNALED(st)) {
      std::printf("FAIL: page %#zx (%s): the child was killed by signal %d\n",
                  static_cast<size_t>(page), covering.empty() ? "free" : "in a live block",
                  WTERMSIG(st));
    } else if (WEXITSTATUS(st) == 3) {
      std::printf(
          "FAIL: page %#zx (%s): SIGBUS reached the program: a memory error tiermem did not "
          "resolve\n",
          static_cast<size_t>(page), covering.empty() ? "free" : "in a live block");
    }  // status 1: the child said why
    std::fflush(stdout);
  }
  // The parent's own copy of the workload is untouched by its children's poison.
  std::size_t damaged = 0;
  for (const Block &b : live) damaged += !intact(b);
  check(damaged == 0, "the parent's " + std::to_string(live.size()) + " live blocks are intact");
  check(failed == 0, std::to_string(sample.size()) +
                         " pages poisoned: " + std::to_string(reported) + " reported user block, " +
                         std::to_string(free_pages) + " free memory, " + std::to_string(failed) +
                         " other");
  std::printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}

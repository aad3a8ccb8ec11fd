// tm_poison_heap_probe: real hardware poison in heap blocks, for the VM scenarios
// tests/vm/scenarios/poison-heap-*.sh (root; the kernel's MADV_HWPOISON injection).
//
//   tm_poison_heap_probe SPEC report|repair|die [FILLER_MIB]
//
// Allocates a 4 MiB victim block and other blocks on tier SPEC (after a FILLER_MIB block,
// to poison fresh memory), fills them with patterns, poisons one page of the victim, then
// checks, one line per check ("ok: ..." or "FAIL: ..."): tm_copy_mc over the victim returns
// the bytes from the poisoned unit on; the tm_on_poison callback named the victim, its tier
// and the unit's offset; a plain load of the poisoned byte is passed to the program's handler
// (report), reads a fresh zero page (repair, node tiers), or kills the process by SIGBUS
// (die: no program handler); freeing the victim quarantines it and 5000 later allocations
// never overlap the unit; every other block's bytes are intact. Exit 0 when all pass.
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "poison_probe_support.hpp"
#include "tiermem/tiermem.h"

using namespace tiermem::test;

int main(int argc, char **argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: %s SPEC report|repair|die [FILLER_MIB]\n", argv[0]);
    return 2;
  }
  static std::string mode = argv[2];
  if (mode != "report" && mode != "repair" && mode != "die") {
    std::fprintf(stderr, "unknown mode %s\n", argv[2]);
    return 2;
  }
  if (mode != "die") {
    // The program's own handler, installed before tiermem's: tiermem passes it every SIGBUS
    // it does not resolve itself.
    install_program_handler();
  }
  tm_on_poison(on_poison, nullptr);
  static tm_tier *tier = tm_tier_find(argv[1]);
  if (tier == nullptr) {
    std::fprintf(stderr, "%s\n", tm_last_error());
    return 2;
  }
  check(tm_poison_get_mode() == (mode == "repair" ? TM_POISON_REPAIR : TM_POISON_REPORT),
        "poison mode from TIERMEM_POISON: " + std::to_string(tm_poison_get_mode()));
  if (argc > 3) tm_malloc(tier, std::strtoull(argv[3], nullptr, 0) << 20);  // kept: moves on

  static std::vector<Block> others;
  std::mt19937 rng(11);
  for (std::size_t i = 0; i < 300; ++i) {
    std::size_t n = i % 10 == 0 ? (256u << 10) : 16 + rng() % 3000;
    others.push_back({static_cast<unsigned char *>(tm_malloc(tier, n)), n, i + 1});
  }
  static Block victim{static_cast<unsigned char *>(tm_malloc(tier, 4u << 20)), 4u << 20, 0};
  for (std::size_t i = 0; i < 300; ++i) {
    std::size_t n = i % 10 == 0 ? (256u << 10) : 16 + rng() % 3000;
    others.push_back({static_cast<unsigned char *>(tm_malloc(tier, n)), n, 1000 + i});
  }
  for (const Block &b : others) {
    if (b.p == nullptr) {
      std::printf("FAIL: allocation on %s: %s\n", argv[1], tm_last_error());
      return 1;
    }
    fill(b);
  }
  if (victim.p == nullptr) {
    std::printf("FAIL: victim allocation on %s: %s\n", argv[1], tm_last_error());
    return 1;
  }
  fill(victim);

  // A byte 3 pages into the victim's first whole 2 MiB unit: whatever the unit (4 KiB for
  // node memory, 2 MiB for a device-dax device with 2 MiB align), it lies inside the victim.
  auto vstart = reinterpret_cast<std::uintptr_t>(victim.p);
  static std::uintptr_t unit2m = (vstart + (2u << 20) - 1) & ~std::uintptr_t{(2u << 20) - 1};
  static auto *target = reinterpret_cast<unsigned char *>(unit2m + 3 * 4096 + 100);
  static auto *target_page =
      reinterpret_cast<unsigned char *>(reinterpret_cast<std::uintptr_t>(target) & ~std::uintptr_t{4095});
  static bool signalled = false;

  armed = 1;
  if (sigsetjmp(recover, 1) == 0) {
    int rc = madvise(target_page, 4096, MADV_HWPOISON);
    armed = 0;
    if (rc != 0) {
      std::printf("FAIL: madvise(MADV_HWPOISON): %s (root and CONFIG_MEMORY_FAILURE needed)\n",
                  std::strerror(errno));
      return 1;
    }
  } else {
    // Device-dax: memory_failure() signals the mapping process at once (BUS_MCEERR_AR for
    // the whole unit); tiermem reported it on the way to this handler.
    signalled = true;
    std::printf("note: the injection raised SIGBUS code %d lsb %d at %p\n", seen_code, seen_lsb,
                seen_addr);
  }
  std::printf("poisoned page %p of victim %p (%zu bytes) on %s\n", static_cast<void *>(target_page),
              static_cast<void *>(victim.p), victim.n, tm_tier_name(tier));

  // tm_copy_mc: stops at the poisoned unit (a real fault for node memory; the registry for
  // device-dax, whose page stays readable under QEMU once the kernel reported it).
  // Static: they live across sigsetjmp/siglongjmp below.
  static std::vector<unsigned char> dst(victim.n);
  static std::size_t left = tm_copy_mc(dst.data(), victim.p, victim.n);
  static std::size_t good = victim.n - left;
  static std::uintptr_t unit = reinterpret_cast<std::uintptr_t>(victim.p) + good;
  static std::size_t unit_len = 0;
  for (std::size_t i = 0; i < tm_poison_count(); ++i) {
    tm_poison_range r{};
    if (tm_poison_get(i, &r) == 0 && r.start == unit) unit_len = r.length;
  }
  bool prefix = true;
  for (std::size_t i = 0; i < good; ++i) prefix = prefix && dst[i] == pattern(0, i);
  check(left > 0 && unit_len > 0 && unit <= reinterpret_cast<std::uintptr_t>(target) &&
            reinterpret_cast<std::uintptr_t>(target) < unit + unit_len,
        "tm_copy_mc left " + std::to_string(left) + " of " + std::to_string(victim.n) +
            " bytes: it stopped at the recorded unit of " + std::to_string(unit_len) + " bytes");
  check(prefix, "the " + std::to_string(good) + " bytes before the unit copied intact");

  static char buf[300];
  std::snprintf(buf, sizeof buf, "callback (%d call): ptr %p size %zu tier %d offset %zu", cb_count,
                cb_ptr, static_cast<size_t>(cb_size), cb_tier, static_cast<size_t>(cb_offset));
  check(cb_count == 1 && cb_ptr == victim.p && cb_size >= victim.n &&
            cb_offset == unit - reinterpret_cast<std::uintptr_t>(victim.p) &&
            tm_tier_of(cb_ptr) == tier,
        buf);

  if (!signalled) {
    armed = 1;
    if (sigsetjmp(recover, 1) == 0) {
      unsigned char v = *static_cast<volatile unsigned char *>(target);
      armed = 0;
      // Only repair mode gets here; report mode goes to the handler, die mode dies.
      bool zero = true;
      for (std::size_t i = 0; i < unit_len; ++i) zero = zero && reinterpret_cast<unsigned char *>(unit)[i] == 0;
      check(mode == "repair" && v == 0 && zero,
            "plain load after repair read " + std::to_string(v) + "; the unit reads as zero");
      check(stats(tier).repaired == unit_len, "statistics: " +
                                                  std::to_string(stats(tier).repaired) +
                                                  " bytes repaired");
      check(tm_poison_contains(target, 1) == 0, "the repaired unit is no longer recorded");
      target[0] = 42;
      check(target[0] == 42, "the fresh page is writable");
    } else {
      std::snprintf(buf, sizeof buf, "plain load: program handler got si_code %d (BUS_MCEERR_AR=%d) at %p",
                    seen_code, BUS_MCEERR_AR, seen_addr);
      check(mode == "report" && seen_code == BUS_MCEERR_AR, buf);
    }
  } else {
    check(mode != "die", "the injection's SIGBUS reached the program's handler");
    std::printf("note: device-dax memory stays readable under QEMU: no plain-load check\n");
  }

  bool repaired = mode == "repair" && !signalled;
  tm_tier_stats before = stats(tier);
  tm_free(victim.p);
  tm_tier_stats after = stats(tier);
  if (repaired) {
    check(after.quarantined_blocks == before.quarantined_blocks,
          "the repaired victim was freed, not quarantined");
  } else {
    check(after.quarantined_blocks == before.quarantined_blocks + 1 &&
              after.quarantined >= before.quarantined + victim.n,
          "the victim is quarantined: " + std::to_string(after.quarantined) + " bytes in " +
              std::to_string(after.quarantined_blocks) + " block(s)");
    std::size_t hits = 0, made = 0;
    std::vector<void *> later;
    for (int i = 0; i < 5000; ++i) {
      std::size_t n = i % 3 == 0 ? 64u << 10 : 16 + rng() % 4000;
      void *q = tm_malloc(tier, n);
      if (q == nullptr) break;
      ++made;
      hits += overlaps(reinterpret_cast<std::uintptr_t>(q), tm_usable_size(q), unit, unit_len);
      later.push_back(q);
      if (rng() % 2) {
        tm_free(later.back());
        later.pop_back();
      }
    }
    for (void *q : later) tm_free(q);
    check(made == 5000 && hits == 0, std::to_string(made) + " later allocations, " +
                                         std::to_string(hits) + " overlapping the poisoned unit");
  }
  std::size_t damaged = 0;
  for (const Block &b : others) damaged += !intact(b);
  check(damaged == 0, std::to_string(others.size() - damaged) + " of " +
                          std::to_string(others.size()) + " other blocks intact (checksummed)");
  std::printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}

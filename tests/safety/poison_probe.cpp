// tm_poison_probe: real hardware-poison handling, for the VM scenario tests/vm/scenarios/poison.sh
// (root; the kernel's MADV_HWPOISON injection).
//
//   tm_poison_probe devdax /dev/dax0.0 TIER   map 4 MiB of a device-dax device
//   tm_poison_probe node N TIER               64 KiB of anonymous memory bound to node N
//
// Poisons one page of the mapping, then checks, printing one line per check ("ok: ..." or
// "FAIL: ..."): every copy routine returns the bytes from the poisoned unit's start to the
// end and copies the bytes before it intact; the poison was recorded once at the kernel's
// granularity and reported to tm_on_poison with the registered range and tier; a plain load
// of the poisoned byte is reported by tiermem on stderr and passed on to the program's
// SIGBUS handler with BUS_MCEERR_AR and the expected si_addr_lsb. Exit 0 when all pass.
#include <fcntl.h>
#include <numaif.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "poison_probe_support.hpp"
#include "safety/copy_mc.hpp"
#include "tiermem/tiermem.h"

namespace {

using namespace tiermem::test;

bool injection_signalled = false;

unsigned char pattern(std::size_t i) { return static_cast<unsigned char>(i * 7 + (i >> 12)); }

}  // namespace

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s devdax PATH TIER | node N TIER\n", argv[0]);
    return 2;
  }
  static std::string mode = argv[1];
  static int tier = std::atoi(argv[3]);

  install_program_handler();
  if (tm_safety_init() != 0) {
    std::fprintf(stderr, "%s\n", tm_last_error());
    return 2;
  }
  tm_on_poison(on_poison, nullptr);
  {
    // The routine tm_copy_mc() took, and the timed copies it took it by (copy_mc.hpp): rep
    // movsb loses to the word loop under QEMU's TCG, which cpuid does not tell.
    using tiermem::safety::CopyRoutine;
    const char *in_use = tm_copy_mc_routine();  // first: it settles the choice
    const tiermem::safety::CopyTiming t = tiermem::safety::copy_timing();
    std::printf("copy routine: %s (8 KiB copies: rep movsb %llu ns, word loop %llu ns)\n",
                in_use, static_cast<unsigned long long>(t.movsb_ns),
                static_cast<unsigned long long>(t.words_ns));
    if (std::getenv("TIERMEM_COPY_MC") == nullptr && t.movsb_ns != 0) {
      const CopyRoutine want =
          tiermem::safety::movsb_is_slow(t) ? CopyRoutine::word_loop : CopyRoutine::rep_movsb;
      check(std::string(in_use) == tiermem::safety::routine_name(want),
            std::string("tm_copy_mc uses ") + tiermem::safety::routine_name(want) +
                ", the faster of the timed copies");
    }
  }

  // Static: they live across sigsetjmp/siglongjmp below.
  static std::size_t len, unit;
  static int expect_lsb;
  static unsigned char *base;
  if (mode == "devdax") {
    int fd = open(argv[2], O_RDWR);
    if (fd < 0) {
      std::perror(argv[2]);
      return 2;
    }
    len = 4u << 20;
    unit = 2u << 20;
    expect_lsb = 21;
    void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap devdax");
      return 2;
    }
    base = static_cast<unsigned char *>(p);
  } else if (mode == "node") {
    int node = std::atoi(argv[2]);
    len = 64u << 10;
    unit = 4096;
    expect_lsb = 12;
    void *p = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("mmap");
      return 2;
    }
    unsigned long mask = 1ul << node;
    if (mbind(p, len, MPOL_BIND, &mask, sizeof mask * 8, MPOL_MF_STRICT) != 0) {
      std::perror("mbind");
      return 2;
    }
    base = static_cast<unsigned char *>(p);
  } else {
    std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
    return 2;
  }
  for (std::size_t i = 0; i < len; ++i) base[i] = pattern(i);
  if (mode == "node") {
    int where = -1;
    void *page = base;
    move_pages(0, 1, &page, nullptr, &where, 0);
    check(where == std::atoi(argv[2]), "the mapping's pages are on node " + std::string(argv[2]) +
                                           " (move_pages says " + std::to_string(where) + ")");
  }
  tm_safety_register_range(base, len, tier);

  // The victim: a byte inside the second half; MADV_HWPOISON poisons its whole page.
  static unsigned char *victim = base + len / 2 + 8192 + 100;
  static unsigned char *victim_page =
      reinterpret_cast<unsigned char *>(reinterpret_cast<uintptr_t>(victim) & ~uintptr_t{4095});
  static unsigned char *unit_start = reinterpret_cast<unsigned char *>(
      reinterpret_cast<uintptr_t>(victim) & ~(uintptr_t{unit} - 1));
  static std::size_t expect_left = static_cast<std::size_t>(base + len - unit_start);

  armed = 1;
  if (sigsetjmp(recover, 1) == 0) {
    int rc = madvise(victim_page, 4096, MADV_HWPOISON);
    armed = 0;
    if (rc != 0) {
      std::printf("FAIL: madvise(MADV_HWPOISON): %s (root and CONFIG_MEMORY_FAILURE needed)\n",
                  std::strerror(errno));
      return 1;
    }
    std::printf("poisoned page %p (unit %p, %zu bytes)\n", static_cast<void *>(victim_page),
                static_cast<void *>(unit_start), unit);
  } else {
    // Device-dax: memory_failure() signals the mapping process at once (BUS_MCEERR_AR for the
    // whole mapping unit) and the page stays readable afterwards under QEMU, where no
    // hardware poisons it: this signal is the one a real load would have raised.
    injection_signalled = true;
    std::printf("note: the injection itself raised SIGBUS code %d lsb %d at %p\n", seen_code,
                seen_lsb, seen_addr);
    char m[200];
    std::snprintf(m, sizeof m, "injection: program handler got si_code %d (BUS_MCEERR_AR=%d) lsb %d at the unit start",
                  seen_code, BUS_MCEERR_AR, seen_lsb);
    check(seen_code == BUS_MCEERR_AR && seen_lsb == expect_lsb && seen_addr == unit_start, m);
  }
  seen_count = 0;

  std::vector<unsigned char> dst(len);
  using tiermem::safety::CopyRoutine;
  int routines = 0;
  for (CopyRoutine r : tiermem::safety::all_copy_routines) {
    if (!tiermem::safety::routine_available(r)) continue;
    ++routines;
    // Anonymous memory: forget the recorded unit so that every routine meets the poison by a
    // real fault (tm_copy_mc does not read a recorded unit). Device-dax under QEMU stays
    // readable, so there the registry is what stops the copy.
    if (!injection_signalled) tm_poison_forget(base, len);
    std::memset(dst.data(), 0, len);
    std::size_t left = tiermem::safety::copy_mc_with(r, dst.data(), base, len);
    std::size_t good = len - left;
    bool intact = true;
    for (std::size_t i = 0; i < good; ++i) intact = intact && dst[i] == pattern(i);
    check(left == expect_left, std::string(tiermem::safety::routine_name(r)) + " left " +
                                   std::to_string(left) + " bytes uncopied (expected " +
                                   std::to_string(expect_left) + ")");
    check(intact, std::string(tiermem::safety::routine_name(r)) + ": the " + std::to_string(good) +
                      " bytes before the poisoned unit are intact");
    check(tm_poison_contains(victim, 1) == 1,
          std::string(tiermem::safety::routine_name(r)) + ": the poisoned unit is recorded");
  }
  check(seen_count == 0, "no copy fault reached the program's handler");
  std::size_t left = tm_copy_mc(dst.data(), base, len);
  check(left == expect_left, std::string("tm_copy_mc (") + tm_copy_mc_routine() + ") left " +
                                 std::to_string(left));
  std::size_t copied = 0;
  int rc = tm_read_mc(dst.data(), base, len, &copied);
  check(rc == -EHWPOISON && copied == len - expect_left,
        "tm_read_mc: " + std::to_string(rc) + ", " + std::to_string(copied) + " bytes: " + tm_last_error());

  int expect_cb = injection_signalled ? 1 : routines;
  check(cb_count == expect_cb, "tm_on_poison called " + std::to_string(cb_count) +
                                   " times (once per newly recorded unit: " +
                                   std::to_string(expect_cb) + ")");
  char buf[256];
  std::snprintf(buf, sizeof buf, "callback: ptr %p size %zu tier %d offset %zu", cb_ptr,
                static_cast<size_t>(cb_size), cb_tier, static_cast<size_t>(cb_offset));
  check(cb_ptr == base && cb_size == len && cb_tier == tier &&
            cb_offset == static_cast<size_t>(unit_start - base),
        buf);
  tm_poison_range pr{};
  bool found = false;
  for (size_t i = 0; i < tm_poison_count(); ++i) {
    if (tm_poison_get(i, &pr) == 0 && pr.start == reinterpret_cast<uintptr_t>(unit_start)) found = true;
  }
  check(found && static_cast<int>(pr.lsb) == expect_lsb && pr.tier == tier,
        "registry: unit " + std::to_string(pr.length) + " bytes, lsb " + std::to_string(pr.lsb));
  check(tm_poison_contains(victim, 1) == 1 && tm_poison_contains(base, 4096) == 0,
        "registry covers the victim and not the start of the mapping");

  if (injection_signalled) {
    std::printf("note: the page stays readable (no hardware poison under QEMU): no plain-load check\n");
  } else {
    armed = 1;
    if (sigsetjmp(recover, 1) == 0) {
      volatile unsigned char v = *static_cast<volatile unsigned char *>(victim);
      (void)v;
      armed = 0;
      check(false, "a plain load of the poisoned byte did not fault");
    } else {
      std::snprintf(buf, sizeof buf,
                    "plain load: program handler got si_code %d (BUS_MCEERR_AR=%d) lsb %d addr %p",
                    seen_code, BUS_MCEERR_AR, seen_lsb, seen_addr);
      auto a = reinterpret_cast<uintptr_t>(static_cast<void *>(seen_addr));
      auto u = reinterpret_cast<uintptr_t>(unit_start);
      check(seen_code == BUS_MCEERR_AR && seen_lsb == expect_lsb && a >= u && a < u + unit, buf);
    }
  }
  std::printf("%s\n", failures ? "FAILED" : "ALL OK");
  return failures ? 1 : 0;
}

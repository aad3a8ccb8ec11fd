#include <doctest/doctest.h>

#include <pthread.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "safety/bad_mapping.hpp"
#include "safety/copy_mc.hpp"
#include "safety/sigbus.hpp"
#include "tiermem/tiermem.h"

using tiermem::safety::CopyRoutine;
using tiermem::safety::copy_mc_with;
using tiermem::safety::routine_name;
using tiermem::test::BadTail;
using tiermem::test::page_size;

namespace {

std::vector<CopyRoutine> routines() {
  std::vector<CopyRoutine> out;
  for (CopyRoutine r : tiermem::safety::all_copy_routines) {
    if (tiermem::safety::routine_available(r)) out.push_back(r);
  }
  return out;
}

// doctest installs its own crash handlers around every test case, replacing ours: put
// tiermem's back in front (it forwards to doctest's), as a program would after its own.
void init() { REQUIRE(tm_safety_init() == 0); }

const std::size_t kOffsets[] = {1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 4095, 4096};
const std::size_t kLengths[] = {1, 2, 7, 8, 9, 31, 32, 33, 64, 100, 4095, 4096, 4097, 8192, 12289};

}  // namespace

TEST_CASE("every copy routine copies the same bytes as memcpy at every size to 300 and alignment") {
  init();
  std::vector<unsigned char> src(400), dst(400), ref(400);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 37 + 11);
  for (CopyRoutine r : routines()) {
    CAPTURE(routine_name(r));
    for (std::size_t sa = 0; sa < 16; ++sa) {
      for (std::size_t da = 0; da < 16; ++da) {
        for (std::size_t n = 0; n <= 300; ++n) {
          std::memset(dst.data(), 0xee, dst.size());
          std::memset(ref.data(), 0xee, ref.size());
          std::memcpy(ref.data() + da, src.data() + sa, n);
          std::size_t left = copy_mc_with(r, dst.data() + da, src.data() + sa, n);
          if (left != 0 || dst != ref) {
            CAPTURE(sa);
            CAPTURE(da);
            CAPTURE(n);
            CHECK(left == 0);
            CHECK(dst == ref);
            return;
          }
        }
      }
    }
  }
}

TEST_CASE("every copy routine matches memcpy for large random sizes and leaves bytes past the end alone") {
  init();
  std::mt19937_64 rng(42);
  const std::size_t max = 1 << 20;
  std::vector<unsigned char> src(max + 64), dst(max + 128), ref(max + 128);
  for (auto &b : src) b = static_cast<unsigned char>(rng());
  for (CopyRoutine r : routines()) {
    CAPTURE(routine_name(r));
    for (int iter = 0; iter < 24; ++iter) {
      std::size_t n = rng() % max;
      std::size_t sa = rng() % 64, da = rng() % 64;
      std::memset(dst.data(), 0x5a, dst.size());
      std::memset(ref.data(), 0x5a, ref.size());
      std::memcpy(ref.data() + da, src.data() + sa, n);
      CAPTURE(n);
      CHECK(copy_mc_with(r, dst.data() + da, src.data() + sa, n) == 0);
      CHECK(std::memcmp(dst.data(), ref.data(), ref.size()) == 0);
    }
  }
}

TEST_CASE("tm_copy_mc returns exactly the bytes not copied when the source goes bad at a page boundary") {
  init();
  // The bad range covers the longest copy: ASan checks a memcpy's whole range before it
  // starts, so a range running past the mapping would be reported although the copy stops
  // at the first bad byte.
  BadTail m(3, 4);
  std::vector<unsigned char> dst(32768);
  for (CopyRoutine r : routines()) {
    CAPTURE(routine_name(r));
    for (std::size_t before : kOffsets) {
      for (std::size_t n : kLengths) {
        const unsigned char *src = m.bad() - before;
        std::size_t expect_good = n < before ? n : before;
        std::memset(dst.data(), 0, dst.size());
        std::size_t left = copy_mc_with(r, dst.data(), src, n);
        CAPTURE(before);
        CAPTURE(n);
        REQUIRE(left == n - expect_good);
        REQUIRE(std::memcmp(dst.data(), src, expect_good) == 0);
      }
    }
  }
}

TEST_CASE("tm_copy_mc returns exactly the bytes not copied when the destination goes bad") {
  init();
  // The bad range covers the longest copy: ASan checks a memcpy's whole range before it
  // starts, so a range running past the mapping would be reported although the copy stops
  // at the first bad byte.
  BadTail m(3, 4);
  std::vector<unsigned char> src(32768);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i ^ 0x3c);
  for (CopyRoutine r : routines()) {
    CAPTURE(routine_name(r));
    for (std::size_t before : kOffsets) {
      for (std::size_t n : kLengths) {
        unsigned char *dst = m.bad() - before;
        std::size_t expect_good = n < before ? n : before;
        std::size_t left = copy_mc_with(r, dst, src.data(), n);
        CAPTURE(before);
        CAPTURE(n);
        REQUIRE(left == n - expect_good);
        REQUIRE(std::memcmp(dst, src.data(), expect_good) == 0);
      }
    }
  }
}

TEST_CASE("tm_copy_mc returns the whole length when the source starts in the bad range") {
  init();
  BadTail m(1, 2);
  std::vector<unsigned char> dst(3 * page_size());
  for (CopyRoutine r : routines()) {
    CAPTURE(routine_name(r));
    CHECK(copy_mc_with(r, dst.data(), m.bad(), 1) == 1);
    CHECK(copy_mc_with(r, dst.data(), m.bad() + 5, 4000) == 4000);
    CHECK(copy_mc_with(r, dst.data(), m.bad(), 2 * page_size()) == 2 * page_size());
  }
}

TEST_CASE("rep movsb is taken only where a timed copy shows it faster than the word loop") {
  using tiermem::safety::CopyTiming;
  using tiermem::safety::movsb_is_slow;
  // The rule: under QEMU's TCG an 8 KiB copy took 17 us with rep movsb and 2.2 us with the
  // word loop; on this project's hosts about 0.1 us and 0.25 us.
  CHECK(movsb_is_slow(CopyTiming{17000, 2200}));
  CHECK_FALSE(movsb_is_slow(CopyTiming{100, 250}));
  CHECK_FALSE(movsb_is_slow(CopyTiming{400, 200}));  // twice the loop's time: still rep movsb
  CHECK(movsb_is_slow(CopyTiming{401, 200}));
  CHECK_FALSE(movsb_is_slow(CopyTiming{}));  // nothing measured: cpuid's word stands
  // What this machine measured, and that the choice follows it and stays put.
  const CopyRoutine first = tiermem::safety::detect_copy_routine();
  const CopyTiming t = tiermem::safety::copy_timing();
  MESSAGE("8 KiB copies: rep movsb " << t.movsb_ns << " ns, word loop " << t.words_ns << " ns");
  if (tiermem::safety::cpuid_copy_routine() != CopyRoutine::rep_movsb) {
    CHECK(first == tiermem::safety::cpuid_copy_routine());
    return;
  }
  CHECK(t.movsb_ns != 0);
  CHECK(t.words_ns != 0);
  CHECK(first == (movsb_is_slow(t) ? CopyRoutine::word_loop : CopyRoutine::rep_movsb));
  for (int i = 0; i < 3; ++i) CHECK(tiermem::safety::detect_copy_routine() == first);
  CHECK(tiermem::safety::copy_timing().movsb_ns == t.movsb_ns);
}

TEST_CASE("cpuid's rep movsb is settled by the first copy it would serve, an explicit choice never") {
  init();
  if (tiermem::safety::cpuid_copy_routine() != CopyRoutine::rep_movsb) return;  // nothing to settle
  using tiermem::safety::active_copy_routine;
  namespace detail = tiermem::safety::detail;
  const CopyRoutine before = active_copy_routine();
  const CopyRoutine want = tiermem::safety::detect_copy_routine();
  std::vector<unsigned char> src(tiermem::safety::kMovsbFrom, 3), dst(tiermem::safety::kMovsbFrom);
  // As the handler's installation leaves it: cpuid's routine, not yet settled.
  tiermem::safety::set_detected_copy_routine(CopyRoutine::rep_movsb);
  CHECK_FALSE(detail::routine_settled.load());
  // Copies below kMovsbFrom never take rep movsb, so they settle nothing.
  CHECK(copy_mc_with(active_copy_routine(), dst.data(), src.data(), tiermem::safety::kMovsbFrom - 1) == 0);
  CHECK_FALSE(detail::routine_settled.load());
  CHECK(active_copy_routine() == CopyRoutine::rep_movsb);
  // The first that would: it copies all, and the routine in use is the timed choice.
  CHECK(copy_mc_with(active_copy_routine(), dst.data(), src.data(), src.size()) == 0);
  CHECK(dst == src);
  CHECK(detail::routine_settled.load());
  CHECK(active_copy_routine() == want);
  // A routine chosen (TIERMEM_COPY_MC) stays, whatever the timing said.
  tiermem::safety::set_active_copy_routine(CopyRoutine::rep_movsb);
  CHECK(detail::routine_settled.load());
  tiermem::safety::settle_copy_routine();
  CHECK(active_copy_routine() == CopyRoutine::rep_movsb);
  tiermem::safety::set_active_copy_routine(before);
}

// Run on its own by ctest with TIERMEM_COPY_MC set (safety.copy_mc_env_*, tests/safety/
// CMakeLists.txt): in a process where nothing installed the handler before, a name of a
// routine chooses it outright; anything else leaves the timed choice, as when unset (and one
// line on stderr, checked by the test after this one).
TEST_CASE("TIERMEM_COPY_MC chooses the routine it names and is ignored otherwise") {
  const char *v = std::getenv("TIERMEM_COPY_MC");
  const bool names_one = v != nullptr && (std::string(v) == "rep-movsb" || std::string(v) == "word-loop" ||
                                          std::string(v) == "portable");
  const bool first = !tiermem::safety::handler_installed();
  init();
  if (first && names_one) {
    CHECK(tiermem::safety::detail::routine_settled.load());  // nothing left to time
    CHECK(std::string(tm_copy_mc_routine()) == v);
    return;
  }
  if (first && tiermem::safety::cpuid_copy_routine() == CopyRoutine::rep_movsb)
    CHECK_FALSE(tiermem::safety::detail::routine_settled.load());  // left to the timed copy
  CHECK(std::string(tm_copy_mc_routine()) == routine_name(tiermem::safety::detect_copy_routine()));
}

TEST_CASE("a TIERMEM_COPY_MC naming no routine here is refused with one line naming the value and the routines") {
  using tiermem::safety::copy_routine_from_env;
  const char *was = std::getenv("TIERMEM_COPY_MC");
  const std::string saved = was != nullptr ? was : "";
  std::string routines;
  for (CopyRoutine r : tiermem::safety::all_copy_routines)
    if (tiermem::safety::routine_available(r)) routines += std::string(" ") + routine_name(r);
  CopyRoutine chosen = CopyRoutine::portable;
  char message[256] = "untouched";
  ::setenv("TIERMEM_COPY_MC", "bogus", 1);
  CHECK(copy_routine_from_env(&chosen, message, sizeof message) == -1);
  CHECK(std::string(message) == "tiermem: TIERMEM_COPY_MC=bogus names no copy routine this machine runs; name one of" +
                                    routines + ", or unset it: the timed choice is used\n");
  CHECK(chosen == CopyRoutine::portable);
  // A long value is cut, the line still ends.
  ::setenv("TIERMEM_COPY_MC", std::string(300, 'x').c_str(), 1);
  CHECK(copy_routine_from_env(&chosen, message, sizeof message) == -1);
  CHECK(std::string(message).back() == '\n');
  ::setenv("TIERMEM_COPY_MC", "word-loop", 1);
  CHECK(copy_routine_from_env(&chosen, message, sizeof message) == 1);
  CHECK(chosen == CopyRoutine::word_loop);
  ::setenv("TIERMEM_COPY_MC", "", 1);
  CHECK(copy_routine_from_env(&chosen, message, sizeof message) == 0);
  ::unsetenv("TIERMEM_COPY_MC");
  CHECK(copy_routine_from_env(&chosen, message, sizeof message) == 0);
  if (was != nullptr) ::setenv("TIERMEM_COPY_MC", saved.c_str(), 1);
}

TEST_CASE("the public tm_copy_mc uses the routine detect_copy_routine selects and recovers a fault") {
  init();
  CHECK(std::string(tm_copy_mc_routine()) ==
        routine_name(tiermem::safety::detect_copy_routine()));
  BadTail m(2, 1);
  std::vector<unsigned char> dst(3 * page_size());
  CHECK(tm_copy_mc(dst.data(), m.data() + 100, 2 * page_size()) == 100);
  CHECK(std::memcmp(dst.data(), m.data() + 100, 2 * page_size() - 100) == 0);
  CHECK(tm_copy_mc(dst.data(), m.data(), m.good_bytes()) == 0);
}

TEST_CASE("tm_copy_mc recovers faults on many threads at once") {
  init();
  BadTail m(4, 4);
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      std::vector<unsigned char> dst(8 * page_size());
      for (int i = 0; i < 300; ++i) {
        std::size_t before = static_cast<std::size_t>((i * 97 + t * 13) % 16000) + 1;
        std::size_t n = before + static_cast<std::size_t>(i % 5) * 1000 + 1;
        CopyRoutine r = routines()[static_cast<std::size_t>(i) % routines().size()];
        std::size_t left = copy_mc_with(r, dst.data(), m.bad() - before, n);
        if (left != n - before || std::memcmp(dst.data(), m.bad() - before, before) != 0) ++wrong;
      }
    });
  }
  for (auto &th : threads) th.join();
  CHECK(wrong.load() == 0);
}

TEST_CASE("tm_verify_mc reports the bytes from the first unreadable one to the end") {
  init();
  BadTail m(2, 2);
  CHECK(tm_verify_mc(m.data(), m.good_bytes()) == 0);
  CHECK(tm_verify_mc(m.data() + 10, m.size() - 10) == m.size() - m.good_bytes());
  CHECK(tm_verify_mc(m.bad() - 1, 2) == 1);
}

TEST_CASE("tm_memcmp_mc compares like memcmp and reports what an error left uncompared") {
  init();
  BadTail m(2, 1);
  std::vector<unsigned char> copy(m.data(), m.data() + m.good_bytes());
  copy.resize(m.size());
  int result = 99;
  CHECK(tm_memcmp_mc(m.data(), copy.data(), m.good_bytes(), &result) == 0);
  CHECK(result == 0);

  // Equal up to the bad page: the rest could not be compared.
  std::size_t n = m.good_bytes() + 100;
  CHECK(tm_memcmp_mc(m.data(), copy.data(), n, &result) == 100);
  CHECK(result == 0);

  // A difference before the bad page decides the comparison.
  copy[5000] = static_cast<unsigned char>(m.data()[5000] + 1);
  CHECK(tm_memcmp_mc(m.data(), copy.data(), n, &result) == 0);
  CHECK(result < 0);
  CHECK(tm_memcmp_mc(copy.data(), m.data(), n, &result) == 0);
  CHECK(result > 0);
}

TEST_CASE("tm_read_mc says a bus error that is not poison stopped the copy, and how far it got") {
  init();
  BadTail m(1, 1);
  std::vector<unsigned char> dst(2 * page_size());
  std::size_t copied = 0;
  CHECK(tm_read_mc(dst.data(), m.data() + 96, page_size(), &copied) == -EFAULT);
  CHECK(copied == page_size() - 96);
  std::string msg = tm_last_error();
  CHECK(msg.find("not hardware poison") != std::string::npos);
  CHECK(msg.find(std::to_string(page_size() - 96) + " of " + std::to_string(page_size())) !=
        std::string::npos);
  CHECK(tm_read_mc(dst.data(), m.data(), page_size(), &copied) == 0);
  CHECK(copied == page_size());
  CHECK(tm_copy_tiers_mc(m.bad() - 8, dst.data(), 16, &copied) == -EFAULT);
  CHECK(copied == 8);
}

// The inline copy of up to 16 bytes (copy_small_mc: the buffer pool's pin-less read) has its
// own fix-up entries, gathered by the linker beside the routines'.
TEST_CASE("the inline small copy copies the same bytes as memcpy at every size to 16 and alignment") {
  init();
  REQUIRE_FALSE(tiermem::safety::poison_ever_recorded());  // else it defers to the routine
  std::vector<unsigned char> src(64), dst(64), ref(64);
  for (std::size_t i = 0; i < src.size(); ++i) src[i] = static_cast<unsigned char>(i * 29 + 5);
  for (std::size_t sa = 0; sa < 16; ++sa)
    for (std::size_t da = 0; da < 16; ++da)
      for (std::size_t n = 0; n <= tiermem::safety::kSmallCopy; ++n) {
        std::memset(dst.data(), 0xee, dst.size());
        std::memset(ref.data(), 0xee, ref.size());
        std::memcpy(ref.data() + da, src.data() + sa, n);
        CAPTURE(sa);
        CAPTURE(da);
        CAPTURE(n);
        REQUIRE(tiermem::safety::copy_small_mc(dst.data() + da, src.data() + sa, n));
        REQUIRE(dst == ref);
      }
}

TEST_CASE("the inline small copy reports a faulting source or destination instead of dying") {
  init();
  REQUIRE_FALSE(tiermem::safety::poison_ever_recorded());
  BadTail m(1, 2);
  std::vector<unsigned char> good(64, 0x5a);
  for (std::size_t n = 1; n <= tiermem::safety::kSmallCopy; ++n) {
    CAPTURE(n);
    // Wholly bad, and straddling the boundary (the second half of the copy faults).
    for (std::size_t before : {std::size_t{0}, n / 2}) {
      CAPTURE(before);
      CHECK_FALSE(tiermem::safety::copy_small_mc(good.data(), m.bad() - before, n));
      CHECK_FALSE(tiermem::safety::copy_small_mc(m.bad() - before, good.data(), n));
    }
  }
  // The copy right before the bad range still works.
  unsigned char out[16];
  CHECK(tiermem::safety::copy_small_mc(out, m.bad() - 16, 16));
}

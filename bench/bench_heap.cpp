// malloc+free pairs: tiermem against its peers, measured in the same binary.
//
//   glibc        malloc / free
//   jemalloc     mallocx(n, MALLOCX_ARENA(a)) / dallocx: the same jemalloc 5.3 tiermem links
//                (Debian's, renamed tmje_*; an arena with jemalloc's default hooks and its
//                automatic tcache). The system libjemalloc.so is not linked: it would become
//                this program's malloc.
//   memkind      memkind_malloc(MEMKIND_DEFAULT / MEMKIND_REGULAR) with memkind_free(kind, p)
//                ("tier-bound" free) and memkind_free(NULL, p) ("kind-less" free)
//   tiermem      tm_malloc(tier) / tm_free(p) — tm_free never needs the tier:
//                tiermem_first_tier   rank:0, the first tier the thread used (it gets the
//                                     thread's automatic jemalloc tcache, see src/heap/tcache.cpp)
//                tiermem_second_tier  an emulated tier used after it (an explicit tcache)
//   tiermem policy tm_realloc(NULL, n) (the default policy) and tm_policy_malloc with bind,
//                interleave and weighted policies over rank:0 and the emulated tier, each
//                with tm_free: the calls behind the preload library's malloc and realloc
//
// Sizes 64 B to 1 MiB, 1 and 2 threads.
//
// Several tiers from one thread (the shape of a tiered program: hot objects on one tier,
// cold on another, or a policy spreading them): a window of 256 live blocks per thread, each
// iteration frees the oldest block and allocates one on the next tier (or kind, or arena) in
// turn, 64 B, 1 KiB and 4 KiB, 1 and 2 threads:
//   *_window_glibc          malloc/free, one heap (the floor)
//   *_window_je_one_arena   mallocx(arena)/dallocx: jemalloc's single-arena path, one "tier"
//   *_window_je_arenas_K    K arenas, each with an explicit tcache: what a careful user
//                           gets from jemalloc for K tiers without tiermem
//   *_window_memkind_2      memkind_malloc alternating MEMKIND_DEFAULT and MEMKIND_REGULAR,
//                           memkind_free(kind, p)
//   *_window_tiermem_K      tm_malloc on rank:0 and K-1 emulated tiers in turn, tm_free
//   *_window_policy_*       tm_policy_malloc(weighted / threshold / interleave over rank:0
//                           and an emulated tier), tm_free; their sizes alternate between n
//                           and n/2 (so that a threshold splits them), and so do those of
//   *_window_je_one_arena_halves, *_window_memkind_2_halves: the same peers at those sizes
// and the single-pair cost of the 3rd and 4th tier a thread uses (tiermem_third_tier,
// tiermem_fourth_tier), beside tiermem_first_tier and tiermem_second_tier.
//
// No assertion on time anywhere: this only measures.
#include <benchmark/benchmark.h>
#include <memkind.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "heap/jemalloc.hpp"
#include "tiermem/tiermem.h"

namespace {

void sizes(benchmark::internal::Benchmark *b) {
  for (long n : {64L, 256L, 4096L, 65536L, 1L << 20}) b->Arg(n);
  b->Threads(1)->Threads(2)->UseRealTime();
}

void glibc_malloc_free(benchmark::State &state) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void *p = std::malloc(n);
    benchmark::DoNotOptimize(p);
    std::free(p);
  }
}

unsigned je_arena() {
  static unsigned arena = [] {
    unsigned a = 0;
    std::size_t sz = sizeof a;
    if (tmje_mallctl("arenas.create", &a, &sz, nullptr, 0) != 0) std::abort();
    return a;
  }();
  return arena;
}

// This peer shares the private jemalloc with tiermem in this one process, and uses the
// thread's automatic tcache, which tiermem gives to the first tier a thread uses: flush it
// before and after so that neither hands the other its cached regions.
void flush_automatic_tcache() { tmje_mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0); }

void jemalloc_mallocx_arena(benchmark::State &state) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  int flags = tiermem::heap::je::arena(je_arena());
  flush_automatic_tcache();
  for (auto _ : state) {
    void *p = tmje_mallocx(n, flags);
    benchmark::DoNotOptimize(p);
    tmje_dallocx(p, 0);
  }
  flush_automatic_tcache();
}

// The same, with an explicit tcache (what tiermem does per tier, see src/heap/heap.hpp).
void jemalloc_mallocx_arena_tcache(benchmark::State &state) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  unsigned tc = 0;
  std::size_t sz = sizeof tc;
  if (tmje_mallctl("tcache.create", &tc, &sz, nullptr, 0) != 0) std::abort();
  int flags = tiermem::heap::je::arena(je_arena()) | tiermem::heap::je::tcache(tc);
  for (auto _ : state) {
    void *p = tmje_mallocx(n, flags);
    benchmark::DoNotOptimize(p);
    tmje_dallocx(p, flags);
  }
  tmje_mallctl("tcache.destroy", nullptr, nullptr, &tc, sizeof tc);
}

void memkind_pair(benchmark::State &state, memkind_t kind, bool kindless) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  memkind_t free_kind = kindless ? nullptr : kind;
  for (auto _ : state) {
    void *p = memkind_malloc(kind, n);
    benchmark::DoNotOptimize(p);
    memkind_free(free_kind, p);
  }
}
void memkind_default(benchmark::State &s) { memkind_pair(s, MEMKIND_DEFAULT, false); }
void memkind_default_kindless_free(benchmark::State &s) { memkind_pair(s, MEMKIND_DEFAULT, true); }
void memkind_regular(benchmark::State &s) { memkind_pair(s, MEMKIND_REGULAR, false); }
void memkind_regular_kindless_free(benchmark::State &s) { memkind_pair(s, MEMKIND_REGULAR, true); }

// Makes rank:0 this thread's first tier, whatever runs first; false (the run skipped) when
// rank:0 or `ready` is missing.
bool first_tier_rank0(benchmark::State &state, bool ready) {
  tm_tier *first = tm_tier_find("rank:0");
  if (first == nullptr || !ready) {
    state.SkipWithError(tm_last_error());
    return false;
  }
  tm_free(tm_malloc(first, 1));
  return true;
}

void tiermem_pair(benchmark::State &state, const char *spec) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  tm_tier *tier = tm_tier_find(spec);
  if (!first_tier_rank0(state, tier != nullptr)) return;
  for (auto _ : state) {
    void *p = tm_malloc(tier, n);
    benchmark::DoNotOptimize(p);
    tm_free(p);
  }
}
void tiermem_first_tier(benchmark::State &s) { tiermem_pair(s, "rank:0"); }
void tiermem_second_tier(benchmark::State &s) { tiermem_pair(s, "emulated:bench"); }
// The 3rd and 4th tier this thread uses: the tiers before it were used first.
void tiermem_nth_pair(benchmark::State &s, std::initializer_list<const char *> before,
                      const char *spec) {
  for (const char *b : before) {
    tm_tier *t = tm_tier_find(b);
    if (t == nullptr) {
      s.SkipWithError(tm_last_error());
      return;
    }
    tm_free(tm_malloc(t, 1));
  }
  tiermem_pair(s, spec);
}
void tiermem_third_tier(benchmark::State &s) {
  tiermem_nth_pair(s, {"rank:0", "emulated:bench"}, "emulated:b3");
}
void tiermem_fourth_tier(benchmark::State &s) {
  tiermem_nth_pair(s, {"rank:0", "emulated:bench", "emulated:b3"}, "emulated:b4");
}

// ---- the alternating window (see the top of the file) ----

constexpr std::size_t kWindow = 256;

// Runs the window: alloc(i) returns the i-th block, release(p, i % kWindow) frees the block
// at that window position. The window is filled before timing starts and emptied after.
template <class Alloc, class Release>
void window_run(benchmark::State &state, Alloc alloc, Release release) {
  std::array<void *, kWindow> live{};
  std::size_t i = 0;
  for (; i < kWindow; ++i) live[i] = alloc(i);
  for (auto _ : state) {
    void *&slot = live[i % kWindow];
    release(slot, i % kWindow);
    slot = alloc(i);
    benchmark::DoNotOptimize(slot);
    ++i;
  }
  for (std::size_t j = 0; j < kWindow; ++j) release(live[j], j);
}

void window_glibc(benchmark::State &state) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  window_run(state, [n](std::size_t) { return std::malloc(n); }, [](void *p, std::size_t) { std::free(p); });
}

// The i-th block's size: n, or n and n/2 in turn (the policy windows' sizes).
std::size_t window_size(std::size_t n, bool halves, std::size_t i) { return halves && i % 2 == 0 ? n / 2 : n; }

void je_one_arena(benchmark::State &state, bool halves) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  int flags = tiermem::heap::je::arena(je_arena());
  flush_automatic_tcache();
  window_run(state, [n, flags, halves](std::size_t i) { return tmje_mallocx(window_size(n, halves, i), flags); },
             [](void *p, std::size_t) { tmje_dallocx(p, 0); });
  flush_automatic_tcache();
}
void window_je_one_arena(benchmark::State &state) { je_one_arena(state, false); }
void window_je_one_arena_halves(benchmark::State &state) { je_one_arena(state, true); }

// K arenas of their own, each with an explicit tcache per thread.
template <unsigned K>
void window_je_arenas(benchmark::State &state) {
  static const std::array<unsigned, K> arenas = [] {
    std::array<unsigned, K> a{};
    for (auto &x : a) {
      std::size_t sz = sizeof x;
      if (tmje_mallctl("arenas.create", &x, &sz, nullptr, 0) != 0) std::abort();
    }
    return a;
  }();
  std::size_t n = static_cast<std::size_t>(state.range(0));
  std::array<int, K> flags{};
  for (unsigned k = 0; k < K; ++k) {
    unsigned tc = 0;
    std::size_t sz = sizeof tc;
    if (tmje_mallctl("tcache.create", &tc, &sz, nullptr, 0) != 0) std::abort();
    flags[k] = tiermem::heap::je::arena(arenas[k]) | tiermem::heap::je::tcache(tc);
  }
  // The block's own arena's tcache on free: found from the window position, as a user who
  // keeps the tier beside each pointer would.
  std::array<int, kWindow> owner{};
  window_run(
      state,
      [&](std::size_t i) {
        owner[i % kWindow] = flags[i % K];
        return tmje_mallocx(n, flags[i % K]);
      },
      [&](void *p, std::size_t pos) { tmje_dallocx(p, owner[pos]); });
  for (int f : flags) {
    unsigned tc = static_cast<unsigned>(((f & tiermem::heap::je::tcache_mask) >> 8) - 2);
    tmje_mallctl("tcache.destroy", nullptr, nullptr, &tc, sizeof tc);
  }
}

void memkind_2(benchmark::State &state, bool halves) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  const memkind_t kinds[2] = {MEMKIND_DEFAULT, MEMKIND_REGULAR};
  std::array<memkind_t, kWindow> owner{};
  window_run(
      state,
      [&](std::size_t i) {
        owner[i % kWindow] = kinds[i % 2];
        return memkind_malloc(kinds[i % 2], window_size(n, halves, i));
      },
      [&](void *p, std::size_t pos) { memkind_free(owner[pos], p); });
}
void window_memkind_2(benchmark::State &state) { memkind_2(state, false); }
void window_memkind_2_halves(benchmark::State &state) { memkind_2(state, true); }

template <unsigned K>
void window_tiermem(benchmark::State &state) {
  static const char *const specs[4] = {"rank:0", "emulated:bench", "emulated:b3", "emulated:b4"};
  std::array<tm_tier *, K> tiers{};
  for (unsigned k = 0; k < K; ++k) tiers[k] = tm_tier_find(specs[k]);
  if (!first_tier_rank0(state, tiers[K - 1] != nullptr)) return;
  std::size_t n = static_cast<std::size_t>(state.range(0));
  window_run(state, [&](std::size_t i) { return tm_malloc(tiers[i % K], n); },
             [](void *p, std::size_t) { tm_free(p); });
}

void window_policy(benchmark::State &state, const char *text) {
  tm_policy *pol = tm_policy_parse(text);
  if (!first_tier_rank0(state, pol != nullptr)) return;
  // The size alternates between n and n/2, so that a threshold of 3n/4 sends every other
  // block to each tier; the other policies see the same sizes.
  std::size_t n = static_cast<std::size_t>(state.range(0));
  window_run(state, [&](std::size_t i) { return tm_policy_malloc(pol, window_size(n, true, i)); },
             [](void *p, std::size_t) { tm_free(p); });
  tm_policy_free(pol);
}
void window_policy_weighted(benchmark::State &s) {
  window_policy(s, "weighted(rank:0=1, emulated:bench=1)");
}
void window_policy_interleave(benchmark::State &s) {
  window_policy(s, "interleave(rank:0, emulated:bench)");
}
void window_policy_threshold(benchmark::State &s) {
  const std::string text = "threshold(" + std::to_string(s.range(0) * 3 / 4) +
                           ", rank:0, emulated:bench)";
  window_policy(s, text.c_str());
}

void window_sizes(benchmark::internal::Benchmark *b) {
  for (long n : {64L, 1024L, 4096L}) b->Arg(n);
  b->Threads(1)->Threads(2)->UseRealTime();
}

void tiermem_realloc_null(benchmark::State &state) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  for (auto _ : state) {
    void *p = tm_realloc(nullptr, n);
    benchmark::DoNotOptimize(p);
    tm_free(p);
  }
}

void tiermem_policy_pair(benchmark::State &state, const char *text) {
  std::size_t n = static_cast<std::size_t>(state.range(0));
  tm_policy *pol = tm_policy_parse(text);
  if (!first_tier_rank0(state, pol != nullptr)) return;
  for (auto _ : state) {
    void *p = tm_policy_malloc(pol, n);
    benchmark::DoNotOptimize(p);
    tm_free(p);
  }
  tm_policy_free(pol);
}
void tiermem_policy_bind(benchmark::State &s) { tiermem_policy_pair(s, "bind(rank:0)"); }
void tiermem_policy_interleave(benchmark::State &s) {
  tiermem_policy_pair(s, "interleave(rank:0, emulated:bench)");
}
void tiermem_policy_weighted(benchmark::State &s) {
  tiermem_policy_pair(s, "weighted(rank:0=3, emulated:bench=1)");
}

}  // namespace

BENCHMARK(glibc_malloc_free)->Apply(sizes);
BENCHMARK(jemalloc_mallocx_arena)->Apply(sizes);
BENCHMARK(jemalloc_mallocx_arena_tcache)->Apply(sizes);
BENCHMARK(memkind_default)->Apply(sizes);
BENCHMARK(memkind_default_kindless_free)->Apply(sizes);
BENCHMARK(memkind_regular)->Apply(sizes);
BENCHMARK(memkind_regular_kindless_free)->Apply(sizes);
BENCHMARK(tiermem_first_tier)->Apply(sizes);
BENCHMARK(tiermem_second_tier)->Apply(sizes);
BENCHMARK(tiermem_third_tier)->Apply(sizes);
BENCHMARK(tiermem_fourth_tier)->Apply(sizes);
BENCHMARK(tiermem_realloc_null)->Apply(sizes);
BENCHMARK(tiermem_policy_bind)->Apply(sizes);
BENCHMARK(tiermem_policy_interleave)->Apply(sizes);
BENCHMARK(tiermem_policy_weighted)->Apply(sizes);
BENCHMARK(window_glibc)->Apply(window_sizes);
BENCHMARK(window_je_one_arena)->Apply(window_sizes);
BENCHMARK_TEMPLATE(window_je_arenas, 2)->Apply(window_sizes);
BENCHMARK_TEMPLATE(window_je_arenas, 4)->Apply(window_sizes);
BENCHMARK(window_memkind_2)->Apply(window_sizes);
BENCHMARK(window_je_one_arena_halves)->Apply(window_sizes);
BENCHMARK(window_memkind_2_halves)->Apply(window_sizes);
BENCHMARK_TEMPLATE(window_tiermem, 2)->Apply(window_sizes);
BENCHMARK_TEMPLATE(window_tiermem, 4)->Apply(window_sizes);
BENCHMARK(window_policy_weighted)->Apply(window_sizes);
BENCHMARK(window_policy_interleave)->Apply(window_sizes);
BENCHMARK(window_policy_threshold)->Apply(window_sizes);

int main(int argc, char **argv) {
  setenv("TIERMEM_EMULATE", "bench:4G,b3:1G,b4:1G", 0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

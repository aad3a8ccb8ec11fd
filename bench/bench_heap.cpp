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
// Sizes 64 B to 1 MiB, 1 and 2 threads. No assertion on time anywhere: this only measures.
#include <benchmark/benchmark.h>
#include <memkind.h>

#include <cstdlib>
#include <cstdio>

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
BENCHMARK(tiermem_realloc_null)->Apply(sizes);
BENCHMARK(tiermem_policy_bind)->Apply(sizes);
BENCHMARK(tiermem_policy_interleave)->Apply(sizes);
BENCHMARK(tiermem_policy_weighted)->Apply(sizes);

int main(int argc, char **argv) {
  setenv("TIERMEM_EMULATE", "bench:4G", 0);
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

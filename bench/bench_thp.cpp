// Transparent huge pages where they pay (issue 16): random 8-byte reads over a 1 GiB block, a
// TLB-bound access pattern (1 GiB is 262144 small pages, far beyond any TLB; 512 huge ones fit
// the second-level TLB of most x86 cores), on
//
//   glibc_4k        aligned_alloc'd by glibc, MADV_NOHUGEPAGE
//   glibc_thp       the same with MADV_HUGEPAGE
//   tiermem_4k      tm_aligned_alloc on the node:0 tier, tm_tier_set_huge_pages(tier, 0)
//   tiermem_thp     the same tier with tm_tier_set_huge_pages(tier, 1) while the block is touched
//
// Each variant runs with /0 (independent reads) and /1 (dependent reads; see random_reads).
// Each block is allocated and touched once, before the first measurement, and kept. The tier's
// advice is a flag of its one mapping: the tiermem_thp block is touched with it on, then the
// flag goes back to "no huge pages" so that khugepaged does not collapse the tiermem_4k block
// behind the benchmark's back (pages already huge stay huge); the blocks are made in a fixed
// order before the first measurement, the 4k ones first. The counter huge_share is the share of
// the block's 2 MiB units the kernel backs with a huge page (pagemap + kpageflags, root only;
// -1 otherwise): it says what each variant really got. The kernel's THP setting is printed in the context; with "never" the
// huge page variants are skipped and say so.
//
// Ratios, not absolute figures: run with --benchmark_repetitions=5
// --benchmark_enable_random_interleaving=true and compare medians within one run.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>

#include "platform/mempolicy.hpp"
#include "tiermem/tiermem.h"

namespace {

constexpr std::size_t kBytes = std::size_t{1} << 30;
constexpr std::size_t kHuge = std::size_t{2} << 20;
constexpr std::size_t kReads = std::size_t{1} << 20;  // per iteration

namespace platform = tiermem::platform;

bool thp_usable() {
  const platform::ThpMode m = platform::thp_mode();
  return m == platform::ThpMode::always || m == platform::ThpMode::madvise;
}

// The share of the block's 2 MiB units that the kernel backs with a transparent huge page:
// the first 4 KiB page of each unit, its frame from /proc/self/pagemap, its flags from
// /proc/kpageflags (KPF_THP, bit 22; both need CAP_SYS_ADMIN for frame numbers). -1 when
// they cannot be read; AnonHugePages in smaps would count the whole tier's mapping instead.
double huge_share(const void *p) {
  int pm = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  int kf = ::open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
  double share = -1;
  if (pm >= 0 && kf >= 0) {
    std::size_t huge = 0, units = kBytes / kHuge;
    const auto base = reinterpret_cast<std::uintptr_t>(p);
    bool readable = true;
    for (std::size_t u = 0; u < units && readable; ++u) {
      std::uint64_t entry = 0, flags = 0;
      const off_t at = static_cast<off_t>((base + u * kHuge) / 4096 * 8);
      readable = ::pread(pm, &entry, 8, at) == 8;
      const std::uint64_t pfn = entry & ((std::uint64_t{1} << 55) - 1);
      if (!readable || (entry >> 63) == 0 || pfn == 0) {
        readable = readable && (entry >> 63) == 0;  // present but no frame: not privileged
        continue;
      }
      readable = ::pread(kf, &flags, 8, static_cast<off_t>(pfn * 8)) == 8;
      huge += (flags >> 22) & 1;
    }
    if (readable) share = static_cast<double>(huge) / static_cast<double>(units);
  }
  if (pm >= 0) ::close(pm);
  if (kf >= 0) ::close(kf);
  return share;
}

std::uint64_t *glibc_block(bool huge) {
  void *p = std::aligned_alloc(kHuge, kBytes);
  if (p == nullptr) return nullptr;
  ::madvise(p, kBytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  std::memset(p, 1, kBytes);
  return static_cast<std::uint64_t *>(p);
}

tm_tier *node_tier() {
  static tm_tier *t = tm_tier_find("node:0");
  return t;
}

std::uint64_t *tiermem_block(bool huge) {
  tm_tier *t = node_tier();
  if (t == nullptr) return nullptr;
  if (tm_tier_set_huge_pages(t, huge ? 1 : 0) != 0 && huge) return nullptr;
  void *p = tm_aligned_alloc(t, kHuge, kBytes);
  if (p != nullptr) std::memset(p, 1, kBytes);
  tm_tier_set_huge_pages(t, 0);  // see the head comment: keep khugepaged off the 4k block
  return static_cast<std::uint64_t *>(p);
}

// The blocks, made once each (a benchmark function runs many times under repetitions).
std::uint64_t *block(int which) {
  static std::uint64_t *blocks[4] = {};
  static bool made[4] = {};
  if (!made[which]) {
    made[which] = true;
    switch (which) {
      case 0: blocks[0] = glibc_block(false); break;
      case 1: blocks[1] = glibc_block(true); break;
      case 2: blocks[2] = tiermem_block(false); break;
      case 3: blocks[3] = tiermem_block(true); break;
    }
  }
  return blocks[which];
}

// Arg 0: independent reads (the next address never waits for a load: the core overlaps the
// misses, TLB walks included). Arg 1: dependent reads (the next address mixes in the value just
// read, so each miss, and each page walk, is paid in full: a pointer chase's pattern).
template <bool Dependent>
void reads(benchmark::State &state, const std::uint64_t *b) {
  const std::size_t mask = kBytes / sizeof(std::uint64_t) - 1;
  std::uint64_t x = 0x9e3779b97f4a7c15ULL, sum = 0;
  for (auto _ : state) {
    for (std::size_t i = 0; i < kReads; ++i) {
      x ^= x << 13;  // xorshift64: cheap next index, no pattern the prefetchers follow
      x ^= x >> 7;
      x ^= x << 17;
      const std::uint64_t v = b[x & mask];
      sum += v;
      // A template argument, not a run-time flag: the compiler would make the run-time test
      // branch-free, and so every variant dependent. v is 0x0101...: the dependency is real
      // and changes nothing.
      if constexpr (Dependent) x ^= v & 1;
    }
    benchmark::DoNotOptimize(sum);
  }
}

void random_reads(benchmark::State &state, int which, bool huge) {
  if (huge && !thp_usable()) {
    state.SkipWithError(("transparent huge pages are '" +
                         std::string(platform::thp_mode_name(platform::thp_mode())) +
                         "' on this machine: no huge page variant can run")
                            .c_str());
    return;
  }
  std::uint64_t *b = block(which);
  if (b == nullptr) {
    state.SkipWithError(which >= 2 ? tm_last_error() : "aligned_alloc of 1 GiB failed");
    return;
  }
  if (state.range(0) != 0) {
    reads<true>(state, b);
  } else {
    reads<false>(state, b);
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations() * kReads));
  state.counters["huge_share"] = huge_share(b);
}

void glibc_4k(benchmark::State &s) { random_reads(s, 0, false); }
void glibc_thp(benchmark::State &s) { random_reads(s, 1, true); }
void tiermem_4k(benchmark::State &s) { random_reads(s, 2, false); }
void tiermem_thp(benchmark::State &s) { random_reads(s, 3, true); }

BENCHMARK(glibc_4k)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(glibc_thp)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(tiermem_4k)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);
BENCHMARK(tiermem_thp)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  std::ifstream in("/sys/kernel/mm/transparent_hugepage/enabled");
  std::string thp;
  std::getline(in, thp);
  benchmark::AddCustomContext("thp_enabled", thp.empty() ? "absent" : thp);
  if (!thp_usable())
    std::fprintf(stderr, "bench_thp: transparent huge pages are '%s' on this machine; the huge "
                         "page variants are skipped\n",
                 platform::thp_mode_name(platform::thp_mode()));
  for (int which : {0, 2, 1, 3})
    if (which % 2 == 0 || thp_usable()) block(which);  // 4k blocks first: see the head comment
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// tm_copy_mc against memcpy in the same binary, 8 B to 64 MiB. The goal (issue 5): at
// 64 KiB and above, the routine cpuid selects reaches at least 0.95x memcpy's bandwidth.
// After the usual table, prints each routine's bandwidth as a ratio of memcpy's (the median
// of the repetitions when --benchmark_repetitions is given).
#include <benchmark/benchmark.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "safety/copy_mc.hpp"
#include "tiermem/tiermem.h"

namespace {

using tiermem::safety::CopyRoutine;

constexpr std::size_t kMax = 64u << 20;

// Page-aligned, pre-faulted buffers shared by every benchmark.
struct Buffers {
  unsigned char *src, *dst;
  Buffers() {
    src = static_cast<unsigned char *>(mmap(nullptr, kMax, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    dst = static_cast<unsigned char *>(mmap(nullptr, kMax, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    std::memset(src, 0x5a, kMax);
    std::memset(dst, 0, kMax);
  }
};
Buffers &buffers() {
  static Buffers b;
  return b;
}

void BM_memcpy(benchmark::State &state) {
  auto n = static_cast<std::size_t>(state.range(0));
  Buffers &b = buffers();
  for (auto _ : state) {
    std::memcpy(b.dst, b.src, n);
    benchmark::DoNotOptimize(b.dst);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void BM_tm_copy_mc(benchmark::State &state) {
  auto n = static_cast<std::size_t>(state.range(0));
  Buffers &b = buffers();
  for (auto _ : state) {
    std::size_t left = tm_copy_mc(b.dst, b.src, n);
    benchmark::DoNotOptimize(left);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

template <CopyRoutine R>
void BM_routine(benchmark::State &state) {
  if (!tiermem::safety::routine_available(R)) {
    state.SkipWithError("this CPU cannot run the routine");
    return;
  }
  auto n = static_cast<std::size_t>(state.range(0));
  Buffers &b = buffers();
  for (auto _ : state) {
    std::size_t left = tiermem::safety::copy_mc_with(R, b.dst, b.src, n);
    benchmark::DoNotOptimize(left);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(n));
}

void sizes(benchmark::internal::Benchmark *b) {
  // Small copies too: a buffer pool's read copies a record, not a page.
  for (std::int64_t n : {8, 64, 256, 512, 1024, 2048}) b->Arg(n);
  for (std::int64_t n = 4 << 10; n <= static_cast<std::int64_t>(kMax); n *= 4) b->Arg(n);
}

BENCHMARK(BM_memcpy)->Apply(sizes);
BENCHMARK(BM_tm_copy_mc)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_routine, CopyRoutine::rep_movsb)->Name("BM_copy_mc_rep_movsb")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_routine, CopyRoutine::word_loop)->Name("BM_copy_mc_word_loop")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_routine, CopyRoutine::avx2)->Name("BM_copy_mc_avx2")->Apply(sizes);
BENCHMARK_TEMPLATE(BM_routine, CopyRoutine::portable)->Name("BM_copy_mc_portable")->Apply(sizes);

// Prints bandwidth per size and the ratio to memcpy's after the normal console output.
class RatioReporter : public benchmark::ConsoleReporter {
 public:
  void ReportRuns(const std::vector<Run> &runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run &r : runs) {
      // With --benchmark_repetitions the median stands for the size; otherwise the one run.
      bool median = r.run_type == Run::RT_Aggregate && r.aggregate_name == "median";
      if (r.run_type != Run::RT_Iteration && !median) continue;
      std::string name = r.run_name.function_name + "/" + r.run_name.args;
      auto slash = name.find('/');
      if (slash == std::string::npos) continue;
      auto it = r.counters.find("bytes_per_second");
      if (it == r.counters.end()) continue;
      auto &cell = bw_[name.substr(0, slash)][std::stoll(name.substr(slash + 1))];
      if (median || cell == 0) cell = it->second.value;
    }
  }
  void Finalize() override {
    ConsoleReporter::Finalize();
    auto base = bw_.find("BM_memcpy");
    if (base == bw_.end()) return;
    std::printf("\nroutine in use: %s\n", tm_copy_mc_routine());
    std::printf("%-10s %12s", "size", "memcpy GB/s");
    for (auto &[fam, _] : bw_) {
      if (fam != "BM_memcpy") std::printf(" %24s", (fam.substr(3) + " GB/s (ratio)").c_str());
    }
    std::printf("\n");
    for (auto &[size, ref] : base->second) {
      std::string sz = size >= (1 << 20)   ? std::to_string(size >> 20) + " MiB"
                       : size >= (1 << 10) ? std::to_string(size >> 10) + " KiB"
                                           : std::to_string(size) + " B";
      std::printf("%-10s %12.2f", sz.c_str(), ref / 1e9);
      for (auto &[fam, m] : bw_) {
        if (fam == "BM_memcpy") continue;
        auto v = m.find(size);
        if (v == m.end()) {
          std::printf(" %24s", "-");
        } else {
          char cell[64];
          std::snprintf(cell, sizeof cell, "%.2f (%.2fx)", v->second / 1e9, v->second / ref);
          std::printf(" %24s", cell);
        }
      }
      std::printf("\n");
    }
  }

 private:
  std::map<std::string, std::map<long long, double>> bw_;
};

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  tm_safety_init();
  buffers();
  RatioReporter reporter;
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}

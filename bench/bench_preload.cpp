// malloc/free of a whole program under each malloc-replacing preload, with a policy of several
// tiers (issue 16: the fast path holds "for the preload library's malloc/free under such a
// policy"). bench_heap calls tm_policy_malloc directly; this measures what a program under
// LD_PRELOAD gets, the preload library's malloc and free included.
//
// Each benchmark iteration spawns this program as a worker under one preload. The worker runs
// bench_heap's window shape through plain malloc/free (256 live blocks, each new block after
// freeing the oldest, sizes n and n/2 in turn, so that a threshold of 3n/4 splits them), first
// 200 000 blocks to warm up, then kBlocks timed with CLOCK_MONOTONIC, and writes ns per block
// to a pipe; that is the iteration's time (manual time), so process start-up is not in it.
// preload_window_2threads/... runs two such windows at once on two threads of the worker
// (issue 16: "and for two threads"), timed together: wall-clock ns per block of one thread.
//
//   glibc               no preload
//   jemalloc            LD_PRELOAD=libjemalloc.so.2, Debian's jemalloc (one heap, no tiers)
//   jemalloc_mallocx_one_arena   the same preload, the window through mallocx(MALLOCX_ARENA)
//                       and dallocx on an arena of its own: issue 16's named peer (bench_heap's
//                       je_one_arena), in the same run
//   memtier_dram        LD_PRELOAD=libmemtier.so.0, memkind's tiering preload, one DRAM tier
//   memtier_2           the same with two tiers, DRAM and an FS_DAX kind on /tmp, bytes 1:1
//   tiermem_bind        LD_PRELOAD=libtiermem_preload.so, the default policy bind(rank:0)
//   tiermem_threshold   threshold(3n/4, rank:0, emulated:slow), TIERMEM_EMULATE=slow:1G
//   tiermem_interleave  interleave(rank:0, emulated:slow)
//   tiermem_weighted    weighted(rank:0=1, emulated:slow=1)
//   baseline_bind, baseline_threshold   another build of the preload library, when
//                       TIERMEM_BENCH_BASELINE_PRELOAD names one (before/after a change)
//
// Run with --benchmark_enable_random_interleaving=true and repetitions; ratios are taken per
// repetition from the same run (bench/README.md). No assertion on time anywhere.
#include <benchmark/benchmark.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "preload_env.hpp"

namespace {

constexpr std::size_t kWindow = 256;
constexpr long kWarmBlocks = 200'000;
constexpr long kBlocks = 2'000'000;

double now_ns() {
  timespec ts{};
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

// One thread's window: filled, warmed up, `started()` (the timed part begins), kBlocks timed
// steps, emptied.
template <class Alloc, class Release, class Started>
void window_steps(std::size_t n, Alloc alloc, Release release, Started started) {
  void *live[kWindow] = {};
  auto size = [n](long i) { return i % 2 == 0 ? n / 2 : n; };
  long i = 0;
  for (; i < static_cast<long>(kWindow); ++i) live[i] = alloc(size(i));
  auto run = [&](long count) {
    for (long end = i + count; i < end; ++i) {
      void *&slot = live[static_cast<std::size_t>(i) % kWindow];
      release(slot);
      slot = alloc(size(i));
      if (slot == nullptr) {
        std::fprintf(stderr, "bench_preload: allocating %zu bytes failed\n", size(i));
        std::exit(1);
      }
      benchmark::DoNotOptimize(slot);
    }
  };
  run(kWarmBlocks);
  started();
  run(kBlocks);
  for (void *p : live) release(p);
}

// The worker: the window through `alloc` and `release` on `threads` threads at once (each its
// own window, the timed parts started together); wall-clock ns per block of one thread on
// stdout, as bench_heap's real time with threads:2.
template <class Alloc, class Release>
int window(std::size_t n, unsigned threads, Alloc alloc, Release release) {
  double start = 0;
  if (threads <= 1) {
    window_steps(n, alloc, release, [&] { start = now_ns(); });
  } else {
    // Not std::barrier: its destructor frees its 64-byte-aligned state, and that free crashed
    // memkind's memtier preload (SIGSEGV in memkind_arena_detect_kind, every run).
    std::atomic<unsigned> warm{0};
    std::atomic<bool> go{false};
    std::vector<std::thread> pool;
    for (unsigned t = 0; t < threads; ++t) {
      pool.emplace_back([&] {
        window_steps(n, alloc, release, [&] {
          warm.fetch_add(1);
          warm.notify_one();
          while (!go.load(std::memory_order_acquire)) {
          }
        });
      });
    }
    for (unsigned w; (w = warm.load()) < threads;) warm.wait(w);
    start = now_ns();
    go.store(true, std::memory_order_release);
    for (std::thread &th : pool) th.join();
  }
  const double ns = (now_ns() - start) / static_cast<double>(kBlocks);
  // write(2) from the stack, not stdio: memtier's preload tears its kinds down at exit before
  // stdio flushes a buffer it allocated, and the figure was lost.
  char out[64];
  const int len = std::snprintf(out, sizeof out, "%.4f\n", ns);
  return ::write(STDOUT_FILENO, out, static_cast<std::size_t>(len)) == len ? 0 : 1;
}

// The program's own malloc and free, whichever preload serves them.
int worker_malloc(std::size_t n, unsigned threads) {
  return window(n, threads, [](std::size_t k) { return std::malloc(k); },
                [](void *p) { std::free(p); });
}

// Issue 16's named peer: jemalloc's single-arena mallocx(MALLOCX_ARENA)/dallocx (bench_heap's
// je_one_arena), here Debian's jemalloc as the preload below this process, its functions found
// with dlsym. An arena of its own, as bench_heap creates.
int worker_mallocx(std::size_t n, unsigned threads) {
  using Mallocx = void *(*)(std::size_t, int);
  using Dallocx = void (*)(void *, int);
  using Mallctl = int (*)(const char *, void *, std::size_t *, void *, std::size_t);
  auto mallocx = reinterpret_cast<Mallocx>(::dlsym(RTLD_DEFAULT, "mallocx"));
  auto dallocx = reinterpret_cast<Dallocx>(::dlsym(RTLD_DEFAULT, "dallocx"));
  auto mallctl = reinterpret_cast<Mallctl>(::dlsym(RTLD_DEFAULT, "mallctl"));
  unsigned arena = 0;
  std::size_t sz = sizeof arena;
  if (mallocx == nullptr || dallocx == nullptr || mallctl == nullptr ||
      mallctl("arenas.create", &arena, &sz, nullptr, 0) != 0) {
    std::fprintf(stderr, "bench_preload: no jemalloc mallocx/mallctl in this process; run the "
                         "mallocx worker under LD_PRELOAD=libjemalloc.so.2\n");
    return 1;
  }
  const int flags = static_cast<int>((arena + 1) << 20);  // MALLOCX_ARENA(arena)
  // With two threads both use the one arena, each through its own automatic tcache (as
  // bench_heap's je_one_arena with threads:2).
  return window(n, threads, [=](std::size_t k) { return mallocx(k, flags); },
                [=](void *p) { dallocx(p, 0); });
}

struct Peer {
  std::string name, lib;
  std::vector<std::string> env;  // besides LD_PRELOAD
  const char *worker = "--worker";  // or "--worker-mallocx"
};

std::vector<Peer> peers(std::size_t n) {
  const std::string tm = TIERMEM_PRELOAD_LIB;
  const std::string emulate = "TIERMEM_EMULATE=slow:1G";
  const std::string memtier = "/usr/lib/x86_64-linux-gnu/libmemtier.so.0";
  const std::string je = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
  const std::string threshold =
      "TIERMEM_POLICY=threshold(" + std::to_string(n * 3 / 4) + ", rank:0, emulated:slow)";
  std::vector<Peer> all = {
      {"glibc", "", {}},
      {"jemalloc", je, {}},
      {"jemalloc_mallocx_one_arena", je, {}, "--worker-mallocx"},
      {"memtier_dram", memtier, {"MEMKIND_MEM_TIERS=KIND:DRAM,RATIO:1;POLICY:STATIC_RATIO"}},
      {"memtier_2", memtier,
       {"MEMKIND_MEM_TIERS=KIND:DRAM,RATIO:1;KIND:FS_DAX,PATH:/tmp,PMEM_SIZE_LIMIT:1G,RATIO:1;"
        "POLICY:STATIC_RATIO"}},
      {"tiermem_bind", tm, {}},
      {"tiermem_threshold", tm, {emulate, threshold}},
      {"tiermem_interleave", tm, {emulate, "TIERMEM_POLICY=interleave(rank:0, emulated:slow)"}},
      {"tiermem_weighted", tm, {emulate, "TIERMEM_POLICY=weighted(rank:0=1, emulated:slow=1)"}},
  };
  // Another build of the preload library, measured in the same run (before/after a change).
  if (const char *base = std::getenv("TIERMEM_BENCH_BASELINE_PRELOAD")) {
    all.push_back({"baseline_bind", base, {}});
    all.push_back({"baseline_threshold", base, {emulate, threshold}});
  }
  return all;
}

// One iteration: the worker spawned under the peer's preload; its ns per block is the time.
void spawn_worker(benchmark::State &state, const std::string &self, const Peer &peer,
                  std::size_t n, unsigned threads) {
  std::vector<std::string> env_s = preload_env(peer.lib, peer.env);
  std::vector<std::string> argv_s = {self, peer.worker, std::to_string(n), std::to_string(threads)};
  std::vector<char *> argv, envp;
  for (auto &a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto &e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  for (auto _ : state) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) {
      state.SkipWithError("pipe failed");
      break;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], STDOUT_FILENO);
    pid_t pid = 0;
    const int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&fa);
    ::close(fds[1]);
    std::string out;
    char buf[64];
    for (ssize_t k; rc == 0 && (k = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(k));
    ::close(fds[0]);
    if (rc != 0) {
      state.SkipWithError(("posix_spawn " + self + ": " + std::strerror(rc)).c_str());
      break;
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    const double ns = std::strtod(out.c_str(), nullptr);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !(ns > 0)) {
      state.SkipWithError(("worker under " + peer.name + " failed (status " + std::to_string(st) +
                           "); run it by hand: " + self + " " + peer.worker + " " + std::to_string(n) +
                           " " + std::to_string(threads))
                              .c_str());
      break;
    }
    state.SetIterationTime(ns * 1e-9);
  }
}

}  // namespace

int main(int argc, char **argv) {
  // --worker N [THREADS], --worker-mallocx N [THREADS]: one worker run (THREADS 1 or 2).
  if ((argc == 3 || argc == 4) && (std::strcmp(argv[1], "--worker") == 0 ||
                                   std::strcmp(argv[1], "--worker-mallocx") == 0)) {
    const auto n = static_cast<std::size_t>(std::strtoul(argv[2], nullptr, 10));
    const unsigned long threads = argc == 4 ? std::strtoul(argv[3], nullptr, 10) : 1;
    if (n < 2 || threads < 1 || threads > 2) {
      std::fprintf(stderr, "bench_preload: %s %s %s: want a block size of at least 2 and 1 or 2 "
                           "threads\n", argv[1], argv[2], argc == 4 ? argv[3] : "");
      return 2;
    }
    const bool plain = std::strcmp(argv[1], "--worker") == 0;
    return plain ? worker_malloc(n, static_cast<unsigned>(threads))
                 : worker_mallocx(n, static_cast<unsigned>(threads));
  }
  benchmark::Initialize(&argc, argv);
  char self[4096];
  const ssize_t len = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (len <= 0) {
    std::fprintf(stderr, "bench_preload: cannot read /proc/self/exe: %s\n", std::strerror(errno));
    return 1;
  }
  self[len] = '\0';
  // preload_window/PEER/N: one thread; preload_window_2threads/PEER/N: two at once.
  for (unsigned threads : {1u, 2u}) {
    const std::string prefix = threads == 1 ? "preload_window/" : "preload_window_2threads/";
    for (std::size_t n : {64, 1024, 4096}) {
      for (const Peer &p : peers(n)) {
        benchmark::RegisterBenchmark((prefix + p.name + "/" + std::to_string(n)).c_str(),
                                     [self = std::string(self), p, n, threads](benchmark::State &s) {
                                       spawn_worker(s, self, p, n, threads);
                                     })
            ->UseManualTime()
            ->Iterations(3)
            ->Unit(benchmark::kNanosecond);
      }
    }
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

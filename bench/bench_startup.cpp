// Start-up cost of a whole process under each malloc-replacing preload: what a shell script,
// a build system or git pays for every program it starts (issue 14: /bin/true under the
// preload library within 1.3x of plain, short real programs within 1.05x).
//
//   plain     the program as it is (glibc malloc)
//   jemalloc  LD_PRELOAD=libjemalloc.so.2 (Debian's jemalloc, a plain malloc replacement)
//   memtier   LD_PRELOAD=libmemtier.so.0, memkind's tiering preload, one DRAM tier
//   tiermem   LD_PRELOAD=libtiermem_preload.so with the default policy, bind(rank:0)
//   tiermem_decay1s   the same with TIERMEM_DECAY_MS=1000
//   tiermem_baseline  another build of it, when TIERMEM_BENCH_BASELINE_PRELOAD names one
//
// Programs: /bin/true (start-up alone), `git log -p` in a small repository, `gcc -c` of a
// small C file. Each iteration is one posix_spawn + waitpid, timed as wall time. Run with
// --benchmark_enable_random_interleaving=true and repetitions: the ratios to plain are taken
// per repetition from the same run (README). No assertion on time anywhere.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "preload_env.hpp"

namespace {

namespace fs = std::filesystem;

fs::path g_dir;

int sh(const std::string &cmd) { return std::system(cmd.c_str()); }

// A repository of 30 commits and a C file, made once before any benchmark runs.
void make_inputs() {
  char tmpl[] = "/tmp/tiermem-bench-startup-XXXXXX";
  g_dir = ::mkdtemp(tmpl);
  const std::string d = g_dir.string();
  const std::string git = "git -c user.name=b -c user.email=b@example.invalid -C " + d + "/r";
  if (sh("git init -q " + d + "/r && for i in $(seq 1 30); do seq $i 400 > " + d +
         "/r/f$((i % 5)); " + git + " add -A && " + git + " commit -qm c$i; done") != 0) {
    std::fprintf(stderr, "bench_startup: cannot make the git repository in %s\n", d.c_str());
    std::exit(1);
  }
  std::FILE *f = std::fopen((g_dir / "x.c").c_str(), "w");
  std::fputs("#include <stdio.h>\nint main(void) { printf(\"%d\\n\", 42); return 0; }\n", f);
  std::fclose(f);
}

void spawn_loop(benchmark::State &state, std::vector<std::string> argv_s,
                std::vector<std::string> env_s) {
  std::vector<char *> argv, envp;
  for (auto &a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto &e : env_s) envp.push_back(e.data());
  envp.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addchdir_np(&fa, g_dir.c_str());
  for (auto _ : state) {
    pid_t pid = 0;
    if (posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), envp.data()) != 0) {
      state.SkipWithError("posix_spawn failed");
      break;
    }
    int st = 0;
    ::waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      state.SkipWithError(("exit status " + std::to_string(st)).c_str());
      break;
    }
  }
  posix_spawn_file_actions_destroy(&fa);
}

std::vector<std::string> program(const std::string &which) {
  if (which == "true") return {"/bin/true"};
  if (which == "git") return {"git", "-C", (g_dir / "r").string(), "log", "-p", "--no-color"};
  return {"gcc", "-c", "x.c", "-o", "x.o"};
}

void add(const std::string &which) {
  struct Peer {
    const char *name, *lib, *extra;
  };
  const Peer peers[] = {
      {"plain", "", ""},
      {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", ""},
      {"memtier", "/usr/lib/x86_64-linux-gnu/libmemtier.so.0", "MEMKIND_MEM_TIERS=KIND:DRAM,RATIO:1;POLICY:STATIC_RATIO"},
      {"tiermem", TIERMEM_PRELOAD_LIB, ""},
      // Freed pages kept for a second instead of returned at once: fewer madvise calls and
      // page faults, more resident memory (the preload library's default is 0).
      {"tiermem_decay1s", TIERMEM_PRELOAD_LIB, "TIERMEM_DECAY_MS=1000"},
  };
  std::vector<Peer> all(std::begin(peers), std::end(peers));
  // Another build of the preload library, measured in the same run (before/after a change).
  if (const char *base = std::getenv("TIERMEM_BENCH_BASELINE_PRELOAD"))
    all.push_back({"tiermem_baseline", base, ""});
  for (const Peer &p : all) {
    benchmark::RegisterBenchmark(("startup/" + which + "/" + p.name).c_str(),
                                 [which, p](benchmark::State &s) {
                                   spawn_loop(s, program(which), preload_env(p.lib, {p.extra}));
                                 })
        ->UseRealTime()
        ->Unit(benchmark::kMicrosecond);
  }
}

}  // namespace

int main(int argc, char **argv) {
  benchmark::Initialize(&argc, argv);
  make_inputs();
  for (const char *w : {"true", "git", "gcc"}) add(w);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  fs::remove_all(g_dir);
  return 0;
}

// tm_vmcheck: the heap's checks that need a real kernel with tiered memory (run by the
// scenarios in tests/vm/scenarios/heap-*.sh). Each command prints "ok: ..." lines and exits
// 0, or prints "FAIL: ..." and exits 1.
//
//   tm_vmcheck placement SPEC NODE   blocks on SPEC sit on NUMA node NODE (get_mempolicy)
//   tm_vmcheck inside SPEC DEVPATH   blocks on SPEC lie inside this process's DEVPATH mapping
//   tm_vmcheck hold SPEC SECONDS     open SPEC, allocate, say "holding", sleep
//   tm_vmcheck exhaust-bind SPEC     bind(SPEC) runs out: NULL + ENOMEM, no crash
//   tm_vmcheck exhaust-preferred SPEC FALLBACK   preferred(SPEC, FALLBACK) spills to FALLBACK
//   tm_vmcheck fork SPEC             a forked child sees a private copy of SPEC's blocks
#include <numaif.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tiermem/tiermem.h"

namespace {

[[noreturn]] void fail(const std::string &why) {
  std::printf("FAIL: %s\n", why.c_str());
  std::exit(1);
}

tm_tier *open_tier(const char *spec) {
  tm_tier *t = tm_tier_find(spec);
  if (t == nullptr) fail(std::string("tm_tier_find(") + spec + "): " + tm_last_error());
  return t;
}

int placement(const char *spec, int want) {
  tm_tier *t = open_tier(spec);
  constexpr std::size_t kBytes = 16 << 20;
  auto *p = static_cast<char *>(tm_malloc(t, kBytes));
  if (p == nullptr) fail(std::string("tm_malloc on ") + spec + ": " + tm_last_error());
  std::memset(p, 0x5a, kBytes);
  long page = sysconf(_SC_PAGESIZE);
  std::size_t pages = 0;
  for (std::size_t off = 0; off < kBytes; off += static_cast<std::size_t>(page), ++pages) {
    int node = -1;
    if (get_mempolicy(&node, nullptr, 0, p + off, MPOL_F_NODE | MPOL_F_ADDR) != 0) {
      fail("get_mempolicy: " + std::string(std::strerror(errno)));
    }
    if (node != want) {
      fail(std::string(spec) + ": page at offset " + std::to_string(off) + " is on node " +
           std::to_string(node) + ", not " + std::to_string(want));
    }
  }
  std::printf("ok: %zu pages of a %s block (tier %s) are on node %d\n", pages, spec,
              tm_tier_name(tm_tier_of(p)), want);
  tm_free(p);
  return 0;
}

int inside(const char *spec, const char *dev) {
  tm_tier *t = open_tier(spec);
  std::vector<void *> blocks;
  for (std::size_t n : {64ul, 4096ul, 100000ul, 3ul << 20}) {
    void *p = tm_malloc(t, n);
    if (p == nullptr) fail(std::string("tm_malloc on ") + spec + ": " + tm_last_error());
    std::memset(p, 1, n);
    blocks.push_back(p);
  }
  std::ifstream maps("/proc/self/maps");
  std::string line;
  unsigned long lo = 0, hi = 0;
  while (std::getline(maps, line)) {
    if (line.find(dev) == std::string::npos) continue;
    std::sscanf(line.c_str(), "%lx-%lx", &lo, &hi);
    std::printf("mapping: %s\n", line.c_str());
    break;
  }
  if (hi == 0) fail(std::string("no mapping of ") + dev + " in /proc/self/maps");
  for (void *p : blocks) {
    auto a = reinterpret_cast<unsigned long>(p);
    if (a < lo || a >= hi) fail("block " + std::to_string(a) + " lies outside the mapping");
    tm_free(p);
  }
  std::printf("ok: %zu blocks on %s lie inside the %s mapping\n", blocks.size(), spec, dev);
  return 0;
}

int hold(const char *spec, int seconds) {
  tm_tier *t = open_tier(spec);
  void *p = tm_malloc(t, 4096);
  if (p == nullptr) fail(tm_last_error());
  std::printf("holding %s as pid %d\n", spec, static_cast<int>(getpid()));
  std::fflush(stdout);
  sleep(static_cast<unsigned>(seconds));
  tm_free(p);
  return 0;
}

int exhaust_bind(const char *spec) {
  std::string text = std::string("bind(") + spec + ")";
  tm_policy *pol = tm_policy_parse(text.c_str());
  if (pol == nullptr) fail(tm_last_error());
  std::size_t blocks = 0;
  for (;;) {
    void *p = tm_policy_malloc(pol, 1 << 20);
    if (p == nullptr) break;
    std::memset(p, 2, 1 << 20);
    if (++blocks > (1u << 20)) fail("no end in sight");
  }
  if (errno != ENOMEM) fail("expected ENOMEM, errno " + std::to_string(errno));
  std::printf("ok: %s gave %zu MiB, then ENOMEM: %s\n", text.c_str(), blocks, tm_last_error());
  return 0;
}

int exhaust_preferred(const char *spec, const char *fallback) {
  std::string text = std::string("preferred(") + spec + ", " + fallback + ")";
  tm_policy *pol = tm_policy_parse(text.c_str());
  if (pol == nullptr) fail(tm_last_error());
  tm_tier *first = open_tier(spec);
  tm_tier *second = open_tier(fallback);
  std::size_t on_first = 0, on_second = 0;
  while (on_second < 8) {
    void *p = tm_policy_malloc(pol, 1 << 20);
    if (p == nullptr) fail(text + ": " + tm_last_error());
    std::memset(p, 3, 1 << 20);
    tm_tier *t = tm_tier_of(p);
    if (t == first) {
      if (on_second != 0) fail("went back to the full tier");
      ++on_first;
    } else if (t == second) {
      ++on_second;
    } else {
      fail("a block on neither tier");
    }
    if (on_first > (1u << 20)) fail("no end in sight");
  }
  tm_tier_stats s{};
  tm_tier_stats_get(first, &s);
  if (s.fallbacks == 0) fail("no fallback counted");
  std::printf("ok: %s: %zu MiB on %s, then spilled to %s (fallbacks %llu)\n", text.c_str(),
              on_first, spec, fallback, static_cast<unsigned long long>(s.fallbacks));
  return 0;
}

int fork_copy(const char *spec) {
  tm_tier *t = open_tier(spec);
  constexpr std::size_t kBytes = 4 << 20;
  auto *p = static_cast<char *>(tm_malloc(t, kBytes));
  if (p == nullptr) fail(tm_last_error());
  std::memset(p, 'P', kBytes);
  pid_t pid = fork();
  if (pid < 0) fail("fork");
  if (pid == 0) {
    bool same = true;
    for (std::size_t i = 0; i < kBytes; i += 4096) same &= p[i] == 'P';
    std::memset(p, 'C', kBytes);  // must stay in the child
    void *q = tm_malloc(t, 64);    // small blocks still come from what the child inherited
    tm_free(q);
    tm_free(p);
    _exit(same ? 0 : 3);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fail("the child saw wrong contents or crashed (status " + std::to_string(status) + ")");
  }
  for (std::size_t i = 0; i < kBytes; i += 4096) {
    if (p[i] != 'P') fail("the child's writes reached the parent's block at offset " + std::to_string(i));
  }
  void *q = tm_malloc(t, 1 << 20);
  if (q == nullptr) fail("the parent cannot allocate after fork: " + std::string(tm_last_error()));
  tm_free(q);
  tm_free(p);
  std::printf("ok: after fork the child had a private copy of the %s blocks; the parent's are intact\n", spec);
  return 0;
}

}  // namespace

int main(int argc, char **argv) {
  std::string cmd = argc > 1 ? argv[1] : "";
  if (cmd == "placement" && argc == 4) return placement(argv[2], std::atoi(argv[3]));
  if (cmd == "inside" && argc == 4) return inside(argv[2], argv[3]);
  if (cmd == "hold" && argc == 4) return hold(argv[2], std::atoi(argv[3]));
  if (cmd == "fork" && argc == 3) return fork_copy(argv[2]);
  if (cmd == "exhaust-bind" && argc == 3) return exhaust_bind(argv[2]);
  if (cmd == "exhaust-preferred" && argc == 4) return exhaust_preferred(argv[2], argv[3]);
  std::fprintf(stderr, "usage: see the comment at the top of tests/heap/vm_check.cpp\n");
  return 2;
}

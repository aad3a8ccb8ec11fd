// What moving data between tiers costs, per mechanism, before any migration policy is built on
// them (issue 17's cost table). Each mechanism is what a tiering thread would do per unit:
//
//   move_pages/4KiB      move_pages(2) of 512 base pages between two NUMA nodes, per page
//   move_pages/2MiB      the same for one transparent huge page (512 addresses, one folio)
//   mbind_move/2MiB      mbind(MPOL_MF_MOVE) of a 2 MiB huge-page range to the other node
//   copy_remap/promote   a 2 MiB range of a shared mapping (memfd here, /dev/daxX.Y with
//                        TIERMEM_BENCH_DAX) moved as the engine moves it (remap_range): fresh
//                        anonymous memory faulted in, the range fenced, copied with the
//                        machine-check-safe copy, the memory mremap()ed over the same address
//   copy_remap/demote    the way back: copied into the device's pages, mapped over the address
//   protect_sample/4KiB  one protection sample: mprotect(PROT_NONE), the program's touch, the
//                        SIGSEGV handler that counts it and restores the page
//   idle_scan/GiB        idle page tracking: PFNs from /proc/self/pagemap, set idle in
//                        /sys/kernel/mm/page_idle/bitmap, read back (root; LRU pages only;
//                        Debian's 6.1 kernel is built without it)
//   softdirty_scan/GiB   clear_refs 4, the program writes, pagemap's soft-dirty bits read
//
// The node benchmarks need two NUMA nodes with memory and the idle scan needs root and
// CONFIG_IDLE_PAGE_TRACKING: where they are missing, the benchmark says so and is skipped
// (this machine has one node; the real-kernel guest of tests/vm has three). No assertion on time.
#include <benchmark/benchmark.h>
#include <fcntl.h>
#include <numaif.h>
#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "migrate/move.hpp"
#include "tiermem/safety.h"

namespace {

constexpr size_t kPage = 4096;
constexpr size_t kHuge = 2u << 20;

// The first two nodes with memory, from sysfs (has_memory is a node list such as "0-2").
std::vector<int> memory_nodes() {
  std::ifstream f("/sys/devices/system/node/has_memory");
  std::string list;
  std::getline(f, list);
  std::vector<int> nodes;
  size_t i = 0;
  while (i < list.size()) {
    size_t end = list.find(',', i);
    if (end == std::string::npos) end = list.size();
    const std::string part = list.substr(i, end - i);
    const size_t dash = part.find('-');
    const int lo = std::atoi(part.c_str());
    const int hi = dash == std::string::npos ? lo : std::atoi(part.c_str() + dash + 1);
    for (int n = lo; n <= hi; ++n) nodes.push_back(n);
    i = end + 1;
  }
  return nodes;
}

bool two_nodes(benchmark::State &state, int &a, int &b) {
  const auto nodes = memory_nodes();
  if (nodes.size() < 2) {
    state.SkipWithError(("needs two NUMA nodes with memory; this machine has " +
                         std::to_string(nodes.size()) + " (run it in the tests/vm guest)")
                            .c_str());
    return false;
  }
  a = nodes[0];
  b = nodes[1];
  return true;
}

// A 2 MiB-aligned anonymous range of `bytes`, huge pages asked for or refused.
char *anon(size_t bytes, bool huge) {
  void *raw = ::mmap(nullptr, bytes + kHuge, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                     -1, 0);
  if (raw == MAP_FAILED) return nullptr;
  auto base = reinterpret_cast<uintptr_t>(raw);
  const uintptr_t aligned = (base + kHuge - 1) & ~(kHuge - 1);
  if (aligned > base) ::munmap(raw, aligned - base);
  ::munmap(reinterpret_cast<void *>(aligned + bytes), base + kHuge - aligned);
  char *p = reinterpret_cast<char *>(aligned);
  ::madvise(p, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  return p;
}

bool bind_to(char *p, size_t bytes, int node) {
  unsigned long mask[16] = {};
  mask[node / 64] |= 1UL << (node % 64);
  return ::mbind(p, bytes, MPOL_BIND, mask, sizeof mask * 8, MPOL_MF_MOVE | MPOL_MF_STRICT) == 0;
}

// Pages of `p` that sit on `node`, asked of the kernel (move_pages with no target).
size_t pages_on(char *p, size_t bytes, int node) {
  const size_t n = bytes / kPage;
  std::vector<void *> addrs(n);
  std::vector<int> status(n);
  for (size_t i = 0; i < n; ++i) addrs[i] = p + i * kPage;
  if (::move_pages(0, n, addrs.data(), nullptr, status.data(), 0) != 0) return 0;
  size_t on = 0;
  for (int s : status) on += s == node;
  return on;
}

void move_pages_between(benchmark::State &state, bool huge) {
  int a = 0, b = 0;
  if (!two_nodes(state, a, b)) return;
  char *p = anon(kHuge, huge);
  if (p == nullptr || !bind_to(p, kHuge, a)) {
    state.SkipWithError("cannot map and bind 2 MiB");
    return;
  }
  std::memset(p, 1, kHuge);
  const size_t n = kHuge / kPage;
  std::vector<void *> addrs(n);
  std::vector<int> to(n), status(n);
  for (size_t i = 0; i < n; ++i) addrs[i] = p + i * kPage;
  ::mbind(p, kHuge, MPOL_DEFAULT, nullptr, 0, 0);  // the policy must not pull pages back
  int where = a;
  size_t misplaced = 0, retries = 0;
  for (auto _ : state) {
    where = where == a ? b : a;
    std::fill(to.begin(), to.end(), where);
    // A page the kernel could not move this time (busy, -EAGAIN) is asked again, as a
    // migration thread would; what is still left after that counts as misplaced below.
    long left = 0;
    for (int attempt = 0; attempt < 4; ++attempt) {
      left = ::move_pages(0, n, addrs.data(), to.data(), status.data(), MPOL_MF_MOVE);
      if (left <= 0) break;
      retries += static_cast<size_t>(left);
    }
    if (left < 0) {
      state.SkipWithError(("move_pages: " + std::string(std::strerror(errno))).c_str());
      break;
    }
  }
  state.counters["retried_pages"] = static_cast<double>(retries);
  misplaced = n - pages_on(p, kHuge, where);
  state.counters["misplaced_pages"] = static_cast<double>(misplaced);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kHuge));
  if (!huge) state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
  ::munmap(p, kHuge);
}

void BM_MovePages4K(benchmark::State &state) { move_pages_between(state, false); }
void BM_MovePages2M(benchmark::State &state) { move_pages_between(state, true); }

void BM_MbindMove2M(benchmark::State &state) {
  int a = 0, b = 0;
  if (!two_nodes(state, a, b)) return;
  char *p = anon(kHuge, true);
  if (p == nullptr || !bind_to(p, kHuge, a)) {
    state.SkipWithError("cannot map and bind 2 MiB");
    return;
  }
  std::memset(p, 1, kHuge);
  int where = a;
  for (auto _ : state) {
    where = where == a ? b : a;
    if (!bind_to(p, kHuge, where)) {
      state.SkipWithError(("mbind(MPOL_MF_MOVE): " + std::string(std::strerror(errno))).c_str());
      break;
    }
  }
  state.counters["misplaced_pages"] = static_cast<double>(kHuge / kPage - pages_on(p, kHuge, where));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kHuge));
  ::munmap(p, kHuge);
}

// The device side of copy_remap: a memfd standing in for a slow tier, or the devdax device
// TIERMEM_BENCH_DAX names (mapped in 2 MiB units, as its align requires).
struct Device {
  int fd = -1;
  std::string name;
  bool open(benchmark::State &state) {
    if (const char *dax = std::getenv("TIERMEM_BENCH_DAX"); dax != nullptr && *dax != '\0') {
      fd = ::open(dax, O_RDWR | O_CLOEXEC);
      name = dax;
    } else {
      fd = ::memfd_create("tiermem-bench-slow", MFD_CLOEXEC);
      name = "memfd";
      if (fd >= 0 && ::ftruncate(fd, static_cast<off_t>(kHuge)) != 0) {
        ::close(fd);
        fd = -1;
      }
    }
    if (fd < 0) state.SkipWithError(("cannot open " + name + ": " + std::strerror(errno)).c_str());
    return fd >= 0;
  }
  ~Device() {
    if (fd >= 0) ::close(fd);
  }
};

double seconds_between(const timespec &a, const timespec &b) {
  return static_cast<double>(b.tv_sec - a.tv_sec) + 1e-9 * static_cast<double>(b.tv_nsec - a.tv_nsec);
}

// One round trip per iteration, both directions done, one of them timed (manual time), so
// that each direction starts from the state the other left: promote maps anonymous memory
// over the device's pages, demote maps the device's pages back over the anonymous ones. Each
// direction is the engine's own move (migrate::remap_range: destination mapped and its pages
// faulted in, the range fenced, copied with the machine-check-safe copy, mremap over it).
void copy_remap(benchmark::State &state, bool time_promote) {
  Device dev;
  if (!dev.open(state)) return;
  char *addr = anon(kHuge, true);  // the block's address: never changes
  if (addr == nullptr) {
    state.SkipWithError("cannot reserve 2 MiB");
    return;
  }
  if (::mmap(addr, kHuge, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, dev.fd, 0) != addr) {
    state.SkipWithError(("cannot map " + dev.name + " at a fixed address").c_str());
    return;
  }
  std::memset(addr, 7, kHuge);
  size_t short_copies = 0;
  const tiermem::migrate::Destination dram{-1, 0, -1, true};  // as a promotion to FAST
  const tiermem::migrate::Destination device{dev.fd, 0, -1};
  for (auto _ : state) {
    timespec t0{}, t1{}, t2{};
    ::clock_gettime(CLOCK_MONOTONIC, &t0);
    tiermem::migrate::MoveResult up = tiermem::migrate::remap_range(addr, kHuge, dram);
    ::clock_gettime(CLOCK_MONOTONIC, &t1);
    tiermem::migrate::MoveResult down = tiermem::migrate::remap_range(addr, kHuge, device);
    ::clock_gettime(CLOCK_MONOTONIC, &t2);
    if (up.error != 0 || down.error != 0) {
      state.SkipWithError(("remap_range " + std::string(up.error != 0 ? "to DRAM" : "back to " + dev.name) +
                           ": " + std::strerror(-(up.error != 0 ? up.error : down.error)))
                              .c_str());
      break;
    }
    short_copies += up.unreadable_at + down.unreadable_at;
    state.SetIterationTime(time_promote ? seconds_between(t0, t1) : seconds_between(t1, t2));
  }
  state.counters["short_copies"] = static_cast<double>(short_copies);
  state.counters["content_kept"] = addr[0] == 7 && addr[kHuge - 1] == 7 ? 1 : 0;
  state.SetLabel(dev.name + ", copied with " + tm_copy_mc_routine());
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kHuge));
  ::munmap(addr, kHuge);
}

void BM_CopyRemapPromote2M(benchmark::State &state) { copy_remap(state, true); }
void BM_CopyRemapDemote2M(benchmark::State &state) { copy_remap(state, false); }

// Protection sampling: the handler restores the touched page and counts the touch. Only this
// benchmark's own page is handled; any other fault is passed to the default action.
char *g_sampled = nullptr;
volatile sig_atomic_t g_touches = 0;
struct sigaction g_previous {};

void on_sample(int sig, siginfo_t *info, void *ctx) {
  char *at = static_cast<char *>(info->si_addr);
  if (g_sampled != nullptr && at >= g_sampled && at < g_sampled + kPage) {
    ::mprotect(g_sampled, kPage, PROT_READ | PROT_WRITE);
    g_touches = g_touches + 1;
    return;
  }
  ::sigaction(sig, &g_previous, nullptr);
  (void)ctx;
}

void BM_ProtectionSample4K(benchmark::State &state) {
  char *p = anon(kHuge, false);
  if (p == nullptr) {
    state.SkipWithError("cannot map a page");
    return;
  }
  std::memset(p, 1, kPage);
  struct sigaction sa {};
  sa.sa_sigaction = on_sample;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  ::sigaction(SIGSEGV, &sa, &g_previous);
  g_sampled = p;
  g_touches = 0;
  for (auto _ : state) {
    ::mprotect(p, kPage, PROT_NONE);
    volatile char *touch = p;
    *touch = static_cast<char>(*touch + 1);  // the program's next access: a fault, then through
  }
  ::sigaction(SIGSEGV, &g_previous, nullptr);
  g_sampled = nullptr;
  state.counters["touches_seen"] =
      benchmark::Counter(static_cast<double>(g_touches) / static_cast<double>(state.iterations()));
  ::munmap(p, kHuge);
}

// Idle page tracking over `range(0)` MiB of populated anonymous memory, reported per GiB.
void BM_IdleScan(benchmark::State &state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  int bitmap = ::open("/sys/kernel/mm/page_idle/bitmap", O_RDWR | O_CLOEXEC);
  if (bitmap < 0) {
    state.SkipWithError(("/sys/kernel/mm/page_idle/bitmap: " + std::string(std::strerror(errno)) +
                         " (needs root and CONFIG_IDLE_PAGE_TRACKING)")
                            .c_str());
    return;
  }
  int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  char *p = anon(bytes, false);
  if (pagemap < 0 || p == nullptr) {
    state.SkipWithError("cannot open /proc/self/pagemap or map the range");
    if (pagemap >= 0) ::close(pagemap);
    ::close(bitmap);
    return;
  }
  for (size_t off = 0; off < bytes; off += kPage) p[off] = 1;
  const size_t n = bytes / kPage;
  std::vector<uint64_t> entries(n);
  std::vector<uint64_t> words;
  size_t idle = 0, without_pfn = 0;
  for (auto _ : state) {
    const off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / kPage * 8);
    if (::pread(pagemap, entries.data(), n * 8, at) != static_cast<ssize_t>(n * 8)) {
      state.SkipWithError("short read of /proc/self/pagemap");
      break;
    }
    // One bitmap word per 64 PFNs: runs of consecutive words go out in one write.
    words.clear();
    without_pfn = 0;
    std::vector<std::pair<uint64_t, uint64_t>> marks;  // (word index, bits)
    marks.reserve(n);
    for (uint64_t e : entries) {
      const uint64_t pfn = e & ((1ULL << 55) - 1);
      if ((e >> 63) == 0 || pfn == 0) {
        ++without_pfn;
        continue;
      }
      const uint64_t w = pfn / 64;
      if (!marks.empty() && marks.back().first == w) marks.back().second |= 1ULL << (pfn % 64);
      else marks.emplace_back(w, 1ULL << (pfn % 64));
    }
    for (size_t i = 0; i < marks.size();) {
      size_t j = i;
      words.clear();
      while (j < marks.size() && marks[j].first == marks[i].first + (j - i)) words.push_back(marks[j++].second);
      (void)!::pwrite(bitmap, words.data(), words.size() * 8, static_cast<off_t>(marks[i].first * 8));
      i = j;
    }
    // The scan proper: which of them are still idle (none were touched since).
    idle = 0;
    for (size_t i = 0; i < marks.size();) {
      size_t j = i;
      while (j < marks.size() && marks[j].first == marks[i].first + (j - i)) ++j;
      words.assign(j - i, 0);
      (void)!::pread(bitmap, words.data(), words.size() * 8, static_cast<off_t>(marks[i].first * 8));
      for (size_t k = i; k < j; ++k) idle += static_cast<size_t>(__builtin_popcountll(words[k - i] & marks[k].second));
      i = j;
    }
  }
  state.counters["pages"] = static_cast<double>(n);
  state.counters["idle_seen"] = static_cast<double>(idle);
  state.counters["without_pfn"] = static_cast<double>(without_pfn);
  state.counters["scans_per_GiB"] = static_cast<double>(bytes) / double(1ULL << 30);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  ::munmap(p, bytes);
  ::close(pagemap);
  ::close(bitmap);
}

// Soft-dirty write tracking over `range(0)` MiB: clear the bits (clear_refs 4), the program
// writes one page in eight, then /proc/self/pagemap tells which pages were written (bit 55).
// Unprivileged, in every Debian kernel (CONFIG_MEM_SOFT_DIRTY), reported per GiB.
void BM_SoftDirtyScan(benchmark::State &state) {
  const size_t bytes = static_cast<size_t>(state.range(0)) << 20;
  int clear = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  char *p = anon(bytes, false);
  if (clear < 0 || pagemap < 0 || p == nullptr) {
    state.SkipWithError(("/proc/self/clear_refs or pagemap: " + std::string(std::strerror(errno))).c_str());
    if (clear >= 0) ::close(clear);
    if (pagemap >= 0) ::close(pagemap);
    return;
  }
  for (size_t off = 0; off < bytes; off += kPage) p[off] = 1;
  const size_t n = bytes / kPage;
  std::vector<uint64_t> entries(n);
  size_t dirty = 0;
  double scan_seconds = 0;
  for (auto _ : state) {
    if (::write(clear, "4", 1) != 1) {
      state.SkipWithError(("write 4 to /proc/self/clear_refs: " + std::string(std::strerror(errno))).c_str());
      break;
    }
    state.PauseTiming();
    for (size_t off = 0; off < bytes; off += 8 * kPage) p[off] = 2;  // the program's writes
    state.ResumeTiming();
    timespec t0{}, t1{};
    ::clock_gettime(CLOCK_MONOTONIC, &t0);
    const off_t at = static_cast<off_t>(reinterpret_cast<uintptr_t>(p) / kPage * 8);
    if (::pread(pagemap, entries.data(), n * 8, at) != static_cast<ssize_t>(n * 8)) {
      state.SkipWithError("short read of /proc/self/pagemap");
      break;
    }
    dirty = 0;
    for (uint64_t e : entries) dirty += (e >> 55) & 1;
    ::clock_gettime(CLOCK_MONOTONIC, &t1);
    scan_seconds += seconds_between(t0, t1);
  }
  if (dirty == 0 && state.iterations() > 0)
    state.SkipWithError("no page came back soft-dirty: this kernel keeps no soft-dirty bits "
                        "(CONFIG_MEM_SOFT_DIRTY is not set)");
  state.counters["pages"] = static_cast<double>(n);
  state.counters["written_seen"] = static_cast<double>(dirty);
  state.counters["written"] = static_cast<double>((n + 7) / 8);
  state.counters["scan_us"] = benchmark::Counter(scan_seconds * 1e6 / static_cast<double>(state.iterations()));
  state.counters["scans_per_GiB"] = static_cast<double>(bytes) / double(1ULL << 30);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
  ::munmap(p, bytes);
  ::close(pagemap);
  ::close(clear);
}

BENCHMARK(BM_MovePages4K)->Name("move_pages/4KiB")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MovePages2M)->Name("move_pages/2MiB")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MbindMove2M)->Name("mbind_move/2MiB")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CopyRemapPromote2M)->Name("copy_remap/promote/2MiB")->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_CopyRemapDemote2M)->Name("copy_remap/demote/2MiB")->UseManualTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ProtectionSample4K)->Name("protect_sample/4KiB")->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_IdleScan)->Name("idle_scan")->Arg(256)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SoftDirtyScan)->Name("softdirty_scan")->Arg(256)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

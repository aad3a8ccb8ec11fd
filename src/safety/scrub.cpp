#include "safety/scrub.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "safety/copy_mc.hpp"
#include "safety/poison_registry.hpp"
#include "safety/sigbus.hpp"
#include "tiermem/error.hpp"

namespace tiermem::safety {

namespace {

constexpr std::uint64_t kPage = 4096;

// The unit around `addr` that cannot be read: the recorded poisoned range holding it, else
// (a bus error that is not poison, e.g. past the end of a file) its 4 KiB page.
void unreadable_unit(std::uintptr_t addr, std::uintptr_t &lo, std::uintptr_t &hi) {
  lo = addr & ~(kPage - 1);
  hi = lo + kPage;
  const PoisonRegistry &reg = poison_registry();
  PoisonRange r;
  for (std::size_t i = 0; i < reg.size(); ++i) {
    if (reg.get(i, &r) && r.start <= addr && addr - r.start < r.length) {
      lo = r.start;
      hi = r.start + r.length;
      return;
    }
  }
}

}  // namespace

ScrubResult scrub_range(const void *base, std::size_t len, const ScrubOptions &opts) {
  ScrubResult res;
  res.total = len;
  const auto b = reinterpret_cast<std::uintptr_t>(base);
  const std::size_t chunk = opts.chunk == 0 ? kPage : opts.chunk;
  std::vector<BadRange> bad;
  const std::vector<BadRange> skip = merge_ranges(opts.skip);
  auto next_skip = skip.begin();
  std::size_t off = 0;
  while (off < len) {
    if (opts.stop != nullptr && *opts.stop != 0) break;
    while (next_skip != skip.end() && next_skip->end() <= off) ++next_skip;
    std::size_t n = std::min(chunk, len - off);
    if (next_skip != skip.end() && next_skip->offset <= off) {
      off = std::min<std::uint64_t>(next_skip->end(), len);
      res.scanned = off;
      if (opts.progress) opts.progress(res.scanned, len);
      continue;
    }
    if (next_skip != skip.end()) n = std::min<std::uint64_t>(n, next_skip->offset - off);
    const std::size_t left = verify_mc(reinterpret_cast<const void *>(b + off), n);
    if (left == 0) {
      off += n;
    } else {
      std::uintptr_t lo = 0, hi = 0;
      unreadable_unit(b + off + (n - left), lo, hi);
      const std::size_t from = std::max<std::uintptr_t>(lo, b) - b;
      const std::size_t to = std::min<std::uintptr_t>(hi, b + len) - b;
      bad.push_back({from, to - from});
      off = std::max(off + 1, to);  // always forward, even for a unit the registry misreports
    }
    res.scanned = std::min(off, len);
    if (opts.progress) opts.progress(res.scanned, len);
  }
  res.complete = res.scanned == len;
  res.bad = merge_ranges(std::move(bad));
  return res;
}

DevdaxScrubber::DevdaxScrubber(int fd, const std::string &path, std::size_t len) {
  // Errors the kernel finds in these units while we run are reported to us at once (as
  // BUS_MCEERR_AO), recorded by the handler for the registered range and skipped by the verify.
  // The kernel sends such a report only to a process that asked for early reports when the
  // error was found, so that is asked before the mapping exists. And SIGBUS stays blocked
  // from the mmap until the range is registered: a report that arrives in between (a process
  // stopped right after mmap returns, as the VM test does, is likely to get one there) is
  // delivered after the registration, not to a handler that does not know the range yet.
  ::prctl(PR_MCE_KILL, PR_MCE_KILL_SET, PR_MCE_KILL_EARLY, 0, 0);
  init();  // a failure shows as the mapping's or the scrub's error, as with any other reader
  sigset_t bus, old;
  sigemptyset(&bus);
  sigaddset(&bus, SIGBUS);
  pthread_sigmask(SIG_BLOCK, &bus, &old);
  map_ = platform::Mapping::map(nullptr, len, PROT_READ, MAP_SHARED | MAP_POPULATE, fd);
  if (!map_) {
    int err = errno;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    ::prctl(PR_MCE_KILL, PR_MCE_KILL_CLEAR, 0, 0, 0);
    throw Error(-err, "tiermem: cannot map " + path + " for scrubbing: " + std::strerror(err) +
                          (err == EINVAL ? "; is it in devdax mode with the align sysfs reports?" : ""));
  }
  register_range(map_.addr(), map_.len(), -1);
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

DevdaxScrubber::~DevdaxScrubber() {
  unregister_range(map_.addr());
  poison_registry().forget(reinterpret_cast<std::uintptr_t>(map_.addr()), map_.len());  // the addresses may be reused by a later mapping
  ::prctl(PR_MCE_KILL, PR_MCE_KILL_CLEAR, 0, 0, 0);
}  // map_ unmaps after the range is unregistered

}  // namespace tiermem::safety

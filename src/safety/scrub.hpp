// Scrubbing: read every byte of a memory range or a device-dax device with the machine-check-
// safe verify (verify_mc), so that a memory error costs a short count instead of the
// process, and list where the unreadable units are.
#pragma once
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "platform/raii.hpp"
#include "safety/badblocks.hpp"

namespace tiermem::safety {

struct ScrubOptions {
  /** Bytes verified per step; progress is reported and `stop` checked between steps. */
  std::size_t chunk = std::size_t{2} << 20;
  /** Called after each step with the bytes scanned so far and the total. */
  std::function<void(std::uint64_t done, std::uint64_t total)> progress;
  /** When it becomes non-zero (a signal handler sets it) the scrub stops after the step. */
  const volatile std::sig_atomic_t *stop = nullptr;
  /**
   * Ranges not to read (offsets from the start): known bad blocks, where a read would only
   * cost another machine check. Counted as scanned, never reported as found.
   */
  std::vector<BadRange> skip;
};

struct ScrubResult {
  std::uint64_t total = 0;    ///< bytes asked for
  std::uint64_t scanned = 0;  ///< bytes looked at, from the start (== total when complete)
  bool complete = false;      ///< false when `stop` ended it early
  /**
   * Unreadable ranges (offsets from the start), merged: a poisoned unit as the kernel reported
   * it (4 KiB page, 2 MiB devdax unit), or the 4 KiB page around a bus error of another kind.
   */
  std::vector<BadRange> bad;
};

/**
 * Reads `[base, base + len)` with verify_mc(). After an error it skips the poisoned unit
 * (from the poison registry) or the faulting 4 KiB page and carries on. Never writes.
 */
ScrubResult scrub_range(const void *base, std::size_t len, const ScrubOptions &opts);

/**
 * A device-dax device mapped for scrubbing. The caller opens it read-write (the kernel refuses
 * a read-only shared mapping of a dax device) and locks it; it is mapped PROT_READ with
 * MAP_POPULATE and registered with the SIGBUS handler. Populating matters: the kernel signals
 * a memory error found on a device-dax unit only to the processes that have that unit mapped,
 * and this process asks for those reports early (PR_MCE_KILL_EARLY), so an error found by
 * anyone while the scrub runs is counted too.
 */
class DevdaxScrubber {
 public:
  /**
   * Maps `len` bytes (a multiple of the device's align) of the open device `fd`; `path` names
   * it in messages. Throws tiermem::Error with the kernel's mmap error.
   */
  DevdaxScrubber(int fd, const std::string &path, std::size_t len);
  ~DevdaxScrubber();
  DevdaxScrubber(const DevdaxScrubber &) = delete;
  DevdaxScrubber &operator=(const DevdaxScrubber &) = delete;

  ScrubResult run(const ScrubOptions &opts) const { return scrub_range(map_.addr(), map_.len(), opts); }
  std::size_t length() const noexcept { return map_.len(); }

 private:
  platform::Mapping map_;
};

}  // namespace tiermem::safety

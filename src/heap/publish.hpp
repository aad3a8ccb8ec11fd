// The heap's statistics, published for `tiermem stat PID`: one small file per process in the
// runtime directory (topology::runtime_dir()), mapped MAP_SHARED, created when the heap opens
// and removed at exit. The page holds a snapshot of counters the heap keeps anyway, refreshed
// at the points where a thread already folds its bytes into a tier (every 64 KiB a thread, see
// t_net in heap.hpp) and when statistics are read: nothing is added to malloc or free, and a
// refresh is a few relaxed stores, no syscall, no lock. A reader checks the pid's start time
// and that the process still maps the file (an exec or a reused pid does not), so a file left
// by a process that was killed is ignored.
#pragma once
#include <atomic>
#include <cstdint>
#include <string>

#include "heap/slots.hpp"

namespace tiermem::heap::published {

inline constexpr char kMagic[8] = {'t', 'm', 'h', 'e', 'a', 'p', '1', '\0'};
inline constexpr std::uint32_t kVersion = 1;

struct TierRecord {
  char name[64];  ///< canonical spec, NUL-terminated (truncated if longer)
  char kind[16];
  std::int32_t rank;                 ///< -1: not a whole topology tier
  std::uint32_t reserved;
  std::uint64_t capacity;
  std::atomic<std::int64_t> live;    ///< folded live bytes (behind by < 64 KiB a thread)
  std::atomic<std::uint64_t> peak;
  std::atomic<std::uint64_t> mapped; ///< bytes taken from the backend
  std::atomic<std::uint64_t> failures;
  std::atomic<std::uint64_t> fallbacks;
};

struct Page {
  char magic[8];
  std::uint32_t version;
  std::uint32_t size;        ///< sizeof(Page): a reader of another layout stops here
  std::int64_t pid;
  std::uint64_t start_time;  ///< platform::start_time() of the publisher
  std::atomic<std::uint32_t> tiers;  ///< records filled, in slot order (release-stored)
  std::uint32_t reserved;
  TierRecord tier[kMaxSlots];
};
static_assert(std::atomic<std::uint64_t>::is_always_lock_free, "shared counters need lock-free atomics");

/** "heap-PID.stats": the file's name in the runtime directory. */
std::string file_name(long pid);

}  // namespace tiermem::heap::published

namespace tiermem::heap {

/** Creates this process's page (once; nothing when there is no runtime directory). */
void publish_open() noexcept;
/** Describes the tier newly opened in `slot` on the page. */
void publish_tier(unsigned slot, const std::string &name, const std::string &kind, int rank,
                  std::uint64_t capacity) noexcept;

/** The counters of a tier a refresh copies (see tm_tier). */
struct PublishedCounters {
  std::int64_t live = 0;
  std::uint64_t peak = 0, mapped = 0, failures = 0, fallbacks = 0;
};
/** Refreshes the counters of the tier in `slot` on the page (cold: at fold points). */
void publish_counters(unsigned slot, const PublishedCounters &c) noexcept;
/** In a fork child: a page of its own, so the parent's is left to the parent. */
void publish_after_fork_child() noexcept;

}  // namespace tiermem::heap

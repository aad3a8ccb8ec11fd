// Reading the statistics another process's heap publishes (heap/publish.hpp), for
// `tiermem stat PID`.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tiermem::api {

struct PublishedTier {
  std::string name, kind;
  int rank = -1;
  std::uint64_t capacity = 0, mapped = 0, peak = 0, failures = 0, fallbacks = 0;
  std::int64_t live = 0;  ///< behind the truth by less than 64 KiB a thread of the process
};

struct PublishedHeap {
  std::vector<PublishedTier> tiers;  ///< the tiers the process has opened, in slot order
};

/**
 * What process `pid` publishes, or nullopt with `why` saying why nothing is read: no file
 * (the process does not run tiermem's heap, or has not opened a tier yet), a file left by
 * another process of that pid (removed then, when it is ours), or a file of another layout.
 */
std::optional<PublishedHeap> read_published_heap(long pid, std::string &why);

}  // namespace tiermem::api

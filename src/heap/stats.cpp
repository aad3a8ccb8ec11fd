// A tier's figures as the heap knows them (its backend's and jemalloc's), the blocks it keeps
// in quarantine, the message for a request it could not serve, and the count of pointers it
// never gave out. The api layer
// turns them into tm_tier_stats and JSON.
#include <cinttypes>
#include <cstdio>
#include <string>

#include "heap/heap.hpp"
#include "heap/owner.hpp"

namespace tiermem::heap {
namespace {
std::atomic<std::uint64_t> g_foreign{0};
}  // namespace

Stats stats(tm_tier *tier) {
  sync_automatic();
  if (t_net[tier->slot] != 0) fold_net(tier->slot);  // the reading thread's own bytes, exact
  Stats s;
  s.capacity = tier->backend->capacity();
  s.limit = tier->backend->limit();
  s.mapped = tier->backend->mapped();
  std::uint64_t epoch = 1;
  std::size_t esz = sizeof epoch;
  tmje_mallctl("epoch", &epoch, &esz, &epoch, sizeof epoch);
  for (unsigned arena : {tier->arena, tier->front_arena}) {
    for (const char *part : {"small", "large"}) {
      std::string name =
          "stats.arenas." + std::to_string(arena) + "." + part + ".allocated";
      std::size_t v = 0, vsz = sizeof v;
      if (tmje_mallctl(name.c_str(), &v, &vsz, nullptr, 0) == 0) s.allocated += v;
    }
  }
  // Blocks cached by threads count in `allocated` but not in the folded live bytes: a peak
  // below `allocated` would read as a contradiction.
  raise_peak(tier, s.allocated);
  s.peak = tier->peak.load(std::memory_order_relaxed);
  s.failures = tier->failures.load(std::memory_order_relaxed);
  s.fallbacks = tier->fallbacks.load(std::memory_order_relaxed);
  s.quarantined = tier->quarantined_bytes.load(std::memory_order_relaxed);
  s.quarantined_blocks = tier->quarantined_blocks.load(std::memory_order_relaxed);
  s.repaired = tier->repaired_bytes.load(std::memory_order_relaxed);
  return s;
}

void quarantine(tm_tier *tier, void *p) noexcept {
  // Never freed: jemalloc keeps counting the
  // block as live, so neither it nor the slab or extent around it is handed out or merged again.
  tier->quarantined_bytes.fetch_add(usable_size(p), std::memory_order_relaxed);
  tier->quarantined_blocks.fetch_add(1, std::memory_order_relaxed);
}

void failure_message(tm_tier *tier, std::size_t n, char *out, std::size_t cap) noexcept {
  const auto &b = *tier->backend;
  char why[96];
  if (b.limit() < b.capacity()) {
    std::snprintf(why, sizeof why, "its limit of %zu bytes is reached", b.limit());
  } else {
    std::snprintf(why, sizeof why, "%zu of %zu bytes are in use", b.mapped(), b.capacity());
  }
  std::snprintf(out, cap,
                "tiermem: cannot allocate %zu bytes on tier '%s': %s; free memory, raise the "
                "limit or use a preferred(...) policy",
                n, tier->name.c_str(), why);
}

void report_foreign(const void *p, const char *call) noexcept {
  std::uint64_t n = g_foreign.fetch_add(1, std::memory_order_relaxed) + 1;
  if (n <= 8) {
    std::fprintf(stderr,
                 "tiermem: %s(%p): not a pointer tiermem gave out; ignored (not freed)%s\n", call,
                 p, n == 8 ? "; further reports suppressed" : "");
  }
}

std::uint64_t foreign_count() noexcept { return g_foreign.load(std::memory_order_relaxed); }

}  // namespace tiermem::heap

// Everything here runs inside the SIGBUS handler: system calls and atomic loads only (no
// jemalloc call, lock or allocation). quarantine() is in stats.cpp: it calls jemalloc.
#include "heap/owner.hpp"

#include <sys/mman.h>

#include <cerrno>

#include "heap/heap.hpp"
#include "platform/mempolicy.hpp"

namespace {
constexpr int kMpolBind = 2;  // <numaif.h> MPOL_BIND
}

namespace tiermem::heap {

bool extent_at(const void *addr, Extent *out) noexcept {
  tm_tier *t = slot_owner(addr);
  if (t == nullptr || !t->extents) return false;
  std::uintptr_t start = 0, end = 0;
  if (!t->extents->find(reinterpret_cast<std::uintptr_t>(addr), &start, &end)) return false;
  out->start = reinterpret_cast<void *>(start);
  out->size = end - start;
  out->tier = t;
  return true;
}

int repair_pages(tm_tier *tier, std::uintptr_t start, std::size_t len) noexcept {
  if (!tier->repairable) return -EOPNOTSUPP;
  platform::Mapping fresh =
      platform::Mapping::map(reinterpret_cast<void *>(start), len, PROT_READ | PROT_WRITE,
                             MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED);
  if (!fresh) return -errno;
  // The pages belong to the tier's slot from now on, bound or not: never unmapped here.
  fresh.release();
  if (platform::mbind(reinterpret_cast<void *>(start), len, kMpolBind, tier->node_mask) != 0) {
    return -errno;
  }
  tier->repaired_bytes.fetch_add(len, std::memory_order_relaxed);
  return 0;
}

}  // namespace tiermem::heap

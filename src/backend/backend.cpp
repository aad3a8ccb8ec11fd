#include "backend/backend.hpp"

#include <cstring>

namespace tiermem::backend {

Backend::Backend(Kind kind, std::string description, const extent_hooks_t &hooks,
                 std::byte *base, std::size_t capacity)
    : kind_(kind), description_(std::move(description)), table_{hooks, this}, base_(base),
      capacity_(capacity) {}

void *Backend::carve(void *new_addr, std::size_t size, std::size_t align) noexcept {
  if (align == 0 || (align & (align - 1)) != 0) align = 4096;
  std::size_t cur = cursor_.load(std::memory_order_relaxed);
  for (;;) {
    std::uintptr_t at = reinterpret_cast<std::uintptr_t>(base_) + cur;
    std::uintptr_t aligned = (at + align - 1) & ~(static_cast<std::uintptr_t>(align) - 1);
    std::size_t start = cur + (aligned - at);
    // jemalloc asks for a given address only to grow an extent in place: possible exactly
    // when that address is where the bump pointer stands.
    if (new_addr != nullptr && reinterpret_cast<std::uintptr_t>(new_addr) != aligned) {
      return nullptr;
    }
    std::size_t limit = limit_.load(std::memory_order_relaxed);
    std::size_t cap = limit < capacity_ ? limit : capacity_;
    if (size > cap || start > cap - size) {
      refusals_.fetch_add(1, std::memory_order_relaxed);
      return nullptr;
    }
    if (cursor_.compare_exchange_weak(cur, start + size, std::memory_order_relaxed)) {
      return base_ + start;
    }
  }
}

void *Backend::hook_alloc(extent_hooks_t *h, void *new_addr, std::size_t size,
                          std::size_t alignment, bool *zero, bool *commit, unsigned) {
  Backend *b = self(h);
  void *p = b->carve(new_addr, size, alignment);
  if (p == nullptr) return nullptr;
  if (b->fresh_is_zero_) {
    *zero = true;  // never handed out before: untouched anonymous or memfd pages are zero
  } else if (*zero) {
    std::memset(p, 0, size);  // device memory keeps what the previous user wrote
  }
  *commit = true;  // mapped read-write up front; there is no separate commit step
  return p;
}

// true = "not done": jemalloc keeps (retains) the extent and reuses it; the bump pointer
// never takes memory back.
bool Backend::hook_dalloc(extent_hooks_t *, void *, std::size_t, bool, unsigned) { return true; }
// Arenas are never destroyed while the process runs; the slot outlives them.
void Backend::hook_destroy(extent_hooks_t *, void *, std::size_t, bool, unsigned) {}
bool Backend::hook_commit(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                          unsigned) {
  return false;  // always committed
}
bool Backend::hook_decommit(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                            unsigned) {
  return true;  // opt out: memory stays committed
}
bool Backend::hook_no_purge(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                            unsigned) {
  return true;  // opt out
}
bool Backend::hook_split(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t, bool,
                         unsigned) {
  return false;  // one mapping per tier: any split is fine
}
bool Backend::hook_merge(extent_hooks_t *, void *, std::size_t, void *, std::size_t, bool,
                         unsigned) {
  return false;  // likewise any merge of neighbouring extents
}

}  // namespace tiermem::backend

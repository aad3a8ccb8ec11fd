#include "api/heap_poison.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "api/known_bad.hpp"
#include "api/machine.hpp"
#include "api/tier_options.hpp"
#include "heap/owner.hpp"
#include "safety/poison_registry.hpp"
#include "safety/sigbus.hpp"
#include "tiermem/error.hpp"
#include "tiermem/safety.h"

namespace tiermem::api {

namespace {

constexpr std::size_t kPage = 4096;

// Signal context: the heap's extent around `addr`, as the safety layer reports owners. The
// handler asks before it records a poisoned unit, so the tier whose slot holds the address is
// marked here: from now on its blocks are checked (even where no extent is handed out yet).
bool heap_owner(const void *addr, safety::Owner *out) noexcept {
  if (tm_tier *t = heap::slot_owner(addr)) heap::mark_poisoned(t);
  heap::Extent b;
  if (!heap::extent_at(addr, &b)) return false;
  out->start = b.start;
  out->size = b.size;
  out->rank = b.tier->rank;
  out->tier_name = b.tier->name.c_str();
  out->heap_tier = b.tier;
  return true;
}

// Signal context.
int heap_repair(const safety::Owner &o, std::uintptr_t start, std::size_t len) noexcept {
  return heap::repair_pages(static_cast<tm_tier *>(o.heap_tier), start, len);
}

// A forced purge gave pages back to the kernel: whatever poison was there is gone.
void forget_purged(void *addr, std::size_t len) noexcept {
  safety::poison_registry().forget(reinterpret_cast<std::uintptr_t>(addr), len);
}

void say_unrepairable(const tm_tier *t) {
  std::fprintf(stderr,
               "tiermem: TIERMEM_POISON=repair does not cover tier '%s' (%s): only a node tier's "
               "lost pages can be replaced; poison there is reported, then SIGBUS is passed on\n",
               t->name.c_str(), t->backend->description().c_str());
}

void wire_once() {
  static std::mutex mu;
  static bool done = false;
  std::lock_guard<std::mutex> lock(mu);
  if (done) return;
  const char *why = nullptr;
  if (safety::apply_poison_env(&why) != 0) {
    throw Error(-EINVAL, std::string("tiermem: TIERMEM_POISON='") + ::secure_getenv("TIERMEM_POISON") +
                             "' " + why);
  }
  safety::set_owner_lookup(heap_owner);
  safety::set_page_repair(heap_repair);
  heap::set_purge_observer(forget_purged);
  if (int rc = safety::install_handler(); rc != 0) {
    throw Error(rc, std::string("tiermem: cannot install the SIGBUS handler that reports memory "
                                "errors in the heap: ") + std::strerror(-rc));
  }
  done = true;
}

bool overlaps(const void *p, std::size_t n) noexcept {
  return safety::poison_registry().contains(reinterpret_cast<std::uintptr_t>(p), n);
}

// Copies what can be read of `n` bytes; poisoned (or otherwise unreadable) pages read as zero.
void salvage(void *dst, const void *src, std::size_t n) noexcept {
  auto *d = static_cast<unsigned char *>(dst);
  const auto *s = static_cast<const unsigned char *>(src);
  std::size_t off = 0;
  while (off < n) {
    std::size_t left = tm_copy_mc(d + off, s + off, n - off);
    if (left == 0) return;
    off = n - left;
    auto at = reinterpret_cast<std::uintptr_t>(s + off);
    std::size_t skip = std::min(n - off, kPage - (at & (kPage - 1)));
    std::memset(d + off, 0, skip);
    off += skip;
  }
}

}  // namespace

tm_tier *find_tier(std::string_view spec) {
  wire_once();
  wire_known_bad_blocks();
  const topology::TierTarget target = resolve(spec);  // a bad spec opens nothing
  heap::open(machine().largest_tier);
  apply_env_before_open();
  tm_tier *t = heap::open_tier(target);
  apply_env_after_open(t);
  if (!t->repairable && safety::poison_mode() == safety::PoisonMode::repair) {
    static std::mutex mu;
    static std::vector<const tm_tier *> told;
    std::lock_guard<std::mutex> lock(mu);
    if (std::find(told.begin(), told.end(), t) == told.end()) {
      told.push_back(t);
      say_unrepairable(t);
    }
  }
  return t;
}

bool holds_poison(const void *p) noexcept { return overlaps(p, heap::usable_size(p)); }

namespace {

void *clean_block(tm_tier *tier, void *p, std::size_t n, int extra_flags) noexcept {
  // Each pass keeps the poisoned block, so jemalloc never offers it again: the loop ends.
  while (p != nullptr && holds_poison(p)) {
    heap::quarantine(tier, p);
    p = heap::allocate(tier, n, extra_flags);
  }
  return p;
}

}  // namespace

void *allocate_checked(tm_tier *tier, std::size_t n, int extra_flags) noexcept {
  // jemalloc zeroes a reused block with memset: a store into a poisoned page would raise
  // SIGBUS inside the allocator. Zero only a block known to be clean.
  int flags = extra_flags & ~heap::je::zero;
  void *p = clean_block(tier, heap::allocate(tier, n, flags), n, flags);
  if (p != nullptr && (extra_flags & heap::je::zero) != 0) std::memset(p, 0, n);
  return p;
}

void free_checked(tm_tier *tier, void *p) noexcept {
  if (holds_poison(p)) {
    heap::quarantine(tier, p);
  } else {
    heap::release(tier, p);
  }
}

void *realloc_checked(tm_tier *tier, void *p, std::size_t n) noexcept {
  if (n <= heap::usable_size(p) && !holds_poison(p)) return p;
  // Never jemalloc's rallocx here: moving a block copies it with memcpy, which would consume
  // the poison (or store into a poisoned page of the new place) inside the allocator.
  void *q = allocate_checked(tier, n, 0);
  if (q == nullptr) return nullptr;
  move_block(tier, p, q, n);
  return q;
}

void move_block(tm_tier *tier, void *p, void *to, std::size_t n) noexcept {
  std::size_t old = heap::usable_size(p);
  std::size_t len = std::min(old, n);
  if (tier->poisoned.load(std::memory_order_relaxed) && overlaps(p, old)) {
    salvage(to, p, len);
    heap::quarantine(tier, p);
    return;
  }
  std::memcpy(to, p, len);
  heap::release(tier, p);  // clean (checked above): no second poison lookup
}

}  // namespace tiermem::api

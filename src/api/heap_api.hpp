// The free path of the C ABI, inline for the front ends that free a pointer without knowing
// whether tiermem gave it out (the preload library): one slot lookup decides and frees.
#pragma once
#include "api/heap_poison.hpp"
#include "heap/heap.hpp"

namespace tiermem::api {

/**
 * The lookup both fast frees start with: true when `p` lies in a slot this thread has used
 * (its flags in `flags`) and that slot is not careful.
 */
[[gnu::always_inline]] inline bool fast_slot(void *p, unsigned &slot, int &flags) noexcept {
  if (__builtin_expect(!heap::slot_of(p, slot), 0)) return false;
  flags = heap::t_flags[slot];
  return __builtin_expect(flags != 0 && !heap::careful(slot), 1);
}

/**
 * Frees `p` the fast way when it lies in a slot this thread has used and that slot is not
 * careful (no limit, no poison): address -> slot -> this thread's flags, no tier pointer to
 * chase. False (nothing done) otherwise.
 */
[[gnu::always_inline]] inline bool free_fast(void *p) noexcept {
  unsigned slot = 0;
  int flags = 0;
  if (!fast_slot(p, slot, flags)) return false;
  // The bound tier: jemalloc's plain free. Any other: the thread's Front for it, if any.
  if (heap::je::automatic_tcache(flags) || !heap::front_push(slot, p, flags)) {
    heap::release_with(slot, p, flags);
  }
  return true;
}

/**
 * Whether `p` is a block of this thread's automatic tier whose free is jemalloc's plain free
 * with nothing else to do (no sync due, see heap.hpp). The caller then calls tmje_free(p) as
 * its last act, so that the compiler can jump to it: the frees of the thread's first tier
 * then cost a few compares more than jemalloc's own, and no stack frame.
 */
[[gnu::always_inline]] inline bool plain_free_applies(void *p) noexcept {
  unsigned slot = 0;
  int flags = 0;
  return fast_slot(p, slot, flags) && heap::je::automatic_tcache(flags) &&
         *heap::t_je_deallocated < heap::t_sync_deallocated;
}

/** Frees block `p` of `t`, the poison check only on a tier that had a memory error. */
inline void free_on(tm_tier *t, void *p) noexcept {
  if (__builtin_expect(t->poisoned.load(std::memory_order_relaxed), 0)) {
    free_checked(t, p);
  } else {
    heap::release(t, p);
  }
}

/** free_fast()'s other cases: frees `p` and returns true when a tier owns it. */
inline bool free_owned_slow(void *p) noexcept {
  tm_tier *t = heap::slot_owner(p);
  if (t == nullptr) return false;
  free_on(t, p);
  return true;
}

/**
 * tm_free() for a pointer that may not be tiermem's: frees it and returns true when a tier
 * owns it; false, untouched and unreported, when not (its owner is another allocator).
 */
[[gnu::always_inline]] inline bool free_if_ours(void *p) noexcept {
  return free_fast(p) || free_owned_slow(p);
}

}  // namespace tiermem::api

// The free path of the C ABI, inline for the front ends that free a pointer without knowing
// whether tiermem gave it out (the preload library): one slot lookup decides and frees.
#pragma once
#include "api/heap_poison.hpp"
#include "heap/heap.hpp"

namespace tiermem::api {

/**
 * The lookup free_route() starts with: true when `p` lies in a slot this thread has used
 * (its flags in `flags`) and that slot is not careful.
 */
[[gnu::always_inline]] inline bool fast_slot(void *p, unsigned &slot, int &flags) noexcept {
  if (__builtin_expect(!heap::slot_of(p, slot), 0)) return false;
  flags = heap::t_flags[slot];
  return __builtin_expect(flags != 0 && !heap::careful(slot), 1);
}

/** Which way a free goes, decided by one slot lookup (see free_route). */
enum class FreeRoute {
  plain,  ///< the thread's automatic tier, nothing else due: tmje_free(p) is all
  slot,   ///< another fast slot, or a sync due: heap::release_fast(slot, p, flags)
  other,  ///< none of those (foreign, NULL, careful, first on the thread): the slow free
};

/**
 * The route of free(p), `slot` and `flags` filled for FreeRoute::slot. The front ends then
 * end with a call of the route's function, so that the compiler can jump to it: the frees of
 * the thread's first tier cost a few compares more than jemalloc's own, and no stack frame;
 * the other tiers' keep only heap::release_fast's.
 */
[[gnu::always_inline]] inline FreeRoute free_route(void *p, unsigned &slot, int &flags) noexcept {
  if (__builtin_expect(!fast_slot(p, slot, flags), 0)) return FreeRoute::other;
  if (__builtin_expect(heap::je::automatic_tcache(flags) &&
                           *heap::t_je_deallocated < heap::t_sync_deallocated,
                       1)) {
    return FreeRoute::plain;
  }
  return FreeRoute::slot;
}

/**
 * Called, when set, after an allocation through a policy found no tier with room, its
 * tm_last_error() and errno set: how the preload library reports the first such failure
 * without a frame of its own on every malloc. Must allocate nothing (the allocator that just
 * failed is the program's).
 */
using PolicyFailureHook = void (*)() noexcept;
void set_policy_failure_hook(PolicyFailureHook hook) noexcept;

/** Frees block `p` of `t`, the poison check only on a tier that had a memory error. */
inline void free_on(tm_tier *t, void *p) noexcept {
  if (__builtin_expect(t->poisoned.load(std::memory_order_relaxed), 0)) {
    free_checked(t, p);
  } else {
    heap::release(t, p);
  }
}

/** The slow free (FreeRoute::other): frees `p` and returns true when a tier owns it. */
inline bool free_owned_slow(void *p) noexcept {
  tm_tier *t = heap::slot_owner(p);
  if (t == nullptr) return false;
  free_on(t, p);
  return true;
}

}  // namespace tiermem::api

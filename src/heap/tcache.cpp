// Per-thread, per-tier jemalloc tcaches (see heap.hpp for why they cannot be shared).
//
// The private jemalloc serves tiermem alone, so each thread's *automatic* tcache is ours to
// give to one tier: the first tier the thread uses gets it (jemalloc's fastest path), every
// further tier gets an explicit tcache ("tcache.create"), destroyed when the thread exits.
// Since every mallocx/dallocx passes the flags of the block's own tier, no tcache ever holds
// regions of two tiers.
#include <pthread.h>

#include <string>

#include "heap/heap.hpp"

namespace tiermem::heap {

constinit thread_local int t_flags[kMaxSlots] [[gnu::tls_model("initial-exec")]] = {};
constinit thread_local unsigned t_bound [[gnu::tls_model("initial-exec")]] = 0;

namespace {

constinit thread_local bool t_automatic_taken [[gnu::tls_model("initial-exec")]] = false;
pthread_key_t g_exit_key;
pthread_once_t g_exit_once = PTHREAD_ONCE_INIT;

void destroy_thread_tcaches(void *) {
  front_thread_exit(t_flags);  // before the flags go: the blocks go back through them
  fold_thread_nets();  // what the thread holds unfolded would otherwise never reach a peak
  t_bound = 0;
  for (unsigned i = 0; i < kMaxSlots; ++i) {
    int f = t_flags[i];
    t_flags[i] = 0;
    int enc = (f & je::tcache_mask) >> 8;
    if (f == 0 || enc < 2) continue;  // none, or MALLOCX_TCACHE_NONE
    unsigned tc = static_cast<unsigned>(enc - 2);
    tmje_mallctl("tcache.destroy", nullptr, nullptr, &tc, sizeof tc);
  }
}

void make_exit_key() { pthread_key_create(&g_exit_key, destroy_thread_tcaches); }

}  // namespace

int thread_flags_slow(tm_tier *tier) noexcept {
  pthread_once(&g_exit_once, make_exit_key);
  bind_thread_totals();  // before t_flags: a non-zero entry promises the totals are bound
  unsigned tc = 0;
  std::size_t sz = sizeof tc;
  int f = tier->arena_flags;
  // jemalloc has at most 4096 explicit tcaches; past that, a thread goes without one on
  // this tier (correct, only slower).
  if (!t_automatic_taken) {
    t_automatic_taken = true;  // flags without tcache bits: the thread's automatic tcache
    // Bind the thread's arena to this tier as well: plain malloc/free then serve this tier
    // through jemalloc's fast path (see allocate() in heap.hpp).
    unsigned arena = tier->arena;
    if (tmje_mallctl("thread.arena", nullptr, nullptr, &arena, sizeof arena) == 0) {
      t_bound = tier->slot + 1;
    }
  } else if (tmje_mallctl("tcache.create", &tc, &sz, nullptr, 0) == 0) {
    f |= je::tcache(tc);
  } else {
    f |= je::tcache_none;
  }
  t_flags[tier->slot] = f;
  // Any non-null value makes the key's destructor run at thread exit.
  pthread_setspecific(g_exit_key, t_flags);
  return f;
}

void *allocate_rebinding(tm_tier *tier, void *p, std::size_t n) noexcept {
  // jemalloc served the plain call from memory outside the tier (the thread lost its arena
  // binding): give that block back without caching it, empty the automatic tcache (it may
  // have been refilled from the other arena and would hand those regions to this tier too),
  // stop using the plain calls on this thread and serve the request the explicit way.
  if (p != nullptr) tmje_dallocx(p, je::tcache_none);
  tmje_mallctl("thread.tcache.flush", nullptr, nullptr, nullptr, 0);
  t_bound = 0;
  int flags = thread_flags(tier);
  return mallocx_noted(tier->slot, n, flags);
}

}  // namespace tiermem::heap

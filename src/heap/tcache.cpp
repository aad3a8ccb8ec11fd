// Per-thread, per-tier jemalloc tcaches (see heap.hpp for why they cannot be shared).
//
// The private jemalloc serves tiermem alone, so each thread's *automatic* tcache is ours to
// give to one tier: the tier of the thread's first small allocation gets it (jemalloc's
// fastest path), every other tier an explicit tcache ("tcache.create"), destroyed when the
// thread exits. Small, because the fast path is for small blocks: the first allocation of
// many programs is a large one on another tier than their small blocks' (libstdc++'s 71 KiB
// emergency pool, under a threshold policy, went to the slow tier, which then kept the
// automatic tcache while every small block took the slower path). A tier a thread frees on,
// or allocates a large block on, before that gets an explicit tcache until then.
// Since every mallocx/dallocx passes the flags of the block's own tier, no tcache ever holds
// regions of two tiers.
#include <pthread.h>

#include <cstdint>

#include <string>

#include "heap/fork.hpp"
#include "heap/heap.hpp"

namespace tiermem::heap {

constinit thread_local int t_flags[kMaxSlots] [[gnu::tls_model("initial-exec")]] = {};
constinit thread_local unsigned t_bound [[gnu::tls_model("initial-exec")]] = 0;

namespace {

constinit thread_local bool t_automatic_taken [[gnu::tls_model("initial-exec")]] = false;

// Explicit tcaches a process inherited from its parent must never be destroyed (nor flushed,
// which in jemalloc 5.3 destroys too): jemalloc's fork child handler rebuilds each arena's
// list of tcaches with the calling thread's automatic one alone, so destroying an inherited
// one unlinks it from a list it is no longer in, and the thread's next tcache operation
// crashed (a child's first small block on a tier its parent had freed or allocated large on).
// One bit per slot whose explicit tcache the thread (the one that forked) inherited.
constinit thread_local std::uint64_t t_inherited [[gnu::tls_model("initial-exec")]] = 0;

bool explicit_tcache(int flags) noexcept { return ((flags & je::tcache_mask) >> 8) >= 2; }
bool inherited(unsigned slot) noexcept {
  return ((t_inherited >> slot) & 1) && explicit_tcache(t_flags[slot]);
}

void destroy_tcache(unsigned slot) noexcept {
  const int f = t_flags[slot];
  if (!explicit_tcache(f) || inherited(slot)) return;  // an inherited one stays, unused
  unsigned tc = static_cast<unsigned>(((f & je::tcache_mask) >> 8) - 2);
  tmje_mallctl("tcache.destroy", nullptr, nullptr, &tc, sizeof tc);
}
pthread_key_t g_exit_key;
pthread_once_t g_exit_once = PTHREAD_ONCE_INIT;

void destroy_thread_tcaches(void *) {
  front_thread_exit(t_flags);  // before the flags go: the blocks go back through them
  fold_thread_nets();  // what the thread holds unfolded would otherwise never reach a peak
  stop_automatic();  // the flags go: later frees on the tier are noted calls
  t_bound = 0;
  for (unsigned i = 0; i < kMaxSlots; ++i) {
    destroy_tcache(i);
    t_flags[i] = 0;
  }
  t_inherited = 0;
}

void make_exit_key() { pthread_key_create(&g_exit_key, destroy_thread_tcaches); }

}  // namespace

namespace {

// A thread's flags for `tier`, kept from now on (the thread's totals bound first: a non-zero
// entry promises them).
int record(tm_tier *tier, int f) noexcept {
  t_flags[tier->slot] = f;
  // Any non-null value makes the key's destructor run at thread exit.
  pthread_setspecific(g_exit_key, t_flags);
  return f;
}

void first_use() noexcept {
  pthread_once(&g_exit_once, make_exit_key);
  bind_thread_totals();
}

}  // namespace

int thread_flags_slow(tm_tier *tier) noexcept {
  first_use();
  unsigned tc = 0;
  std::size_t sz = sizeof tc;
  // jemalloc has at most 4096 explicit tcaches; past that, a thread goes without one on
  // this tier (correct, only slower).
  if (tmje_mallctl("tcache.create", &tc, &sz, nullptr, 0) == 0) {
    return record(tier, tier->arena_flags | je::tcache(tc));
  }
  return record(tier, tier->arena_flags | je::tcache_none);
}

int small_flags_slow(tm_tier *tier) noexcept {
  // A tier whose explicit tcache this thread inherited across fork keeps it (see inherited):
  // only slower.
  if (inherited(tier->slot)) return t_flags[tier->slot];
  first_use();
  t_automatic_taken = true;
  // A free or a large block came first on this tier: its explicit tcache (and the blocks
  // the thread's Front holds through it) goes back, so that nothing is cached under flags
  // the thread no longer uses.
  if (const int old = t_flags[tier->slot]; old != 0) {
    front_release(tier->slot, old);
    destroy_tcache(tier->slot);
  }
  // Bind the thread's arena to this tier as well: plain malloc/free then serve this tier
  // through jemalloc's fast path (see allocate() in heap.hpp).
  unsigned arena = tier->arena;
  if (tmje_mallctl("thread.arena", nullptr, nullptr, &arena, sizeof arena) == 0) {
    t_bound = tier->slot + 1;
  }
  start_automatic(tier->slot);  // before the flags: its plain calls are counted from now
  return record(tier, tier->arena_flags);  // no tcache bits: the automatic tcache
}

void tcache_after_fork_child() noexcept {
  // The child's one thread is the one that forked: its explicit tcaches are the parent's.
  for (unsigned i = 0; i < kMaxSlots; ++i) {
    if (explicit_tcache(t_flags[i])) t_inherited |= std::uint64_t{1} << i;
  }
}

int small_flags(tm_tier *tier) noexcept {
  return t_automatic_taken ? thread_flags(tier) : small_flags_slow(tier);
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

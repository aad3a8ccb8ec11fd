// Fork: see backend.hpp. The order of the fork handlers is what makes a child safe. Our
// prepare must run after jemalloc's (so the tiers' memory is copied while jemalloc holds all
// its locks and its metadata is still) and our child handler before jemalloc's (which
// re-initialises the arenas' mutexes, inside the tiers' memory: that must already be the
// child's private copy, not the parent's shared pages). pthread_atfork runs prepare handlers
// in reverse order of registration and child handlers in order, so ours must be registered
// first, before anything initialises the private jemalloc (its malloc_init registers its own).
//
// A constructor alone does not guarantee that: in libtiermem_preload.so the preload
// library's constructor, and before it any allocating constructor of a library loaded
// earlier (libnuma's allocates its node masks), reaches jemalloc first. Registering late let
// the child inherit the parent's shared memfd pages while jemalloc re-initialised its mutexes
// in them: children hung in edata_avail_remove or died with SIGSEGV. So the registration is a
// once-only call made by every path that can make the first jemalloc call, and the
// constructor remains for programs that never allocate before fork.
#include "heap/fork.hpp"

#include <pthread.h>

#include "heap/heap.hpp"
#include "heap/publish.hpp"

namespace tiermem::heap {
namespace {

void for_each_tier(void (backend::Backend::*fn)() noexcept) {
  for (auto &slot : g_slots.tier) {
    tm_tier *t = slot.load(std::memory_order_acquire);
    if (t != nullptr) (t->backend.get()->*fn)();
  }
}
void fork_prepare() { for_each_tier(&backend::Backend::prepare_fork); }
void fork_parent() { for_each_tier(&backend::Backend::parent_after_fork); }
void fork_child() {
  for_each_tier(&backend::Backend::child_after_fork);
  registry_after_fork_child();
  publish_after_fork_child();
  tcache_after_fork_child();
}

pthread_once_t g_once = PTHREAD_ONCE_INIT;
void register_once() { pthread_atfork(fork_prepare, fork_parent, fork_child); }

__attribute__((constructor(101))) void register_at_load() { register_fork_handlers(); }

}  // namespace

void register_fork_handlers() noexcept { pthread_once(&g_once, register_once); }

}  // namespace tiermem::heap

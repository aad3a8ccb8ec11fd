// fork() and the tiers: the order of the fork handlers is what makes a child safe (fork.cpp).
#pragma once

namespace tiermem::heap {

/**
 * Registers the heap's fork handlers, once. Must run before the private jemalloc initialises
 * (its initialisation registers jemalloc's own handlers), so every path that may make the
 * first jemalloc call calls it first. Idempotent and cheap after the first call.
 */
void register_fork_handlers() noexcept;

/** In the child: the registry lock, which a vanished thread may have held, made anew. */
void registry_after_fork_child() noexcept;
/** The child's side of tcache.cpp: its tcaches from before the fork are the parent's. */
void tcache_after_fork_child() noexcept;

}  // namespace tiermem::heap

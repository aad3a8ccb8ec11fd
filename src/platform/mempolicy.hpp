// The kernel's NUMA memory policy calls, as thin system-call wrappers. libnuma's wrappers do
// the same, but linking libnuma loads it, and its constructor (which reads /proc/self/status
// and the node directory and sets a memory policy) into every process that loads tiermem:
// a measurable part of the preload library's start-up.
#pragma once
#include <cstddef>

namespace tiermem::platform {

/** mbind(2); 0 or -1 with errno, as the system call. Async-signal-safe. */
long mbind(void *addr, std::size_t len, int mode, const unsigned long *nodemask,
           unsigned long maxnode, unsigned flags) noexcept;

}  // namespace tiermem::platform

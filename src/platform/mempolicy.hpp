// The kernel's NUMA memory policy and memory advice calls, as thin system-call wrappers.
// libnuma's wrappers do the same, but linking libnuma loads it, and its constructor (which
// reads /proc/self/status and the node directory and sets a memory policy) into every process
// that loads tiermem: a measurable part of the preload library's start-up.
#pragma once
#include <cstddef>
#include <string>

#include "platform/raii.hpp"

namespace tiermem::platform {

/** mbind(2); 0 or -1 with errno, as the system call. Async-signal-safe. */
long mbind(void *addr, std::size_t len, int mode, const unsigned long *nodemask,
           unsigned long maxnode, unsigned flags) noexcept;
/** mbind(2) over the nodes of `nodes`. Async-signal-safe. */
long mbind(void *addr, std::size_t len, int mode, const NodeMask &nodes, unsigned flags = 0) noexcept;
/** set_mempolicy(2) for the calling thread; 0 or -1 with errno. Async-signal-safe. */
long set_mempolicy(int mode, const NodeMask &nodes) noexcept;

/** madvise(2); 0 or -1 with errno. Async-signal-safe. */
int madvise(void *addr, std::size_t len, int advice) noexcept;
/**
 * Gives the pages of [addr, addr + len) back (MADV_DONTNEED): anonymous private memory reads
 * as zero afterwards and keeps its memory policy; shared memory keeps its contents.
 */
int discard_pages(void *addr, std::size_t len) noexcept;
/**
 * Asks for transparent huge pages on [addr, addr + len) (MADV_HUGEPAGE), or forbids them
 * (MADV_NOHUGEPAGE); 0 or -1 with errno (EINVAL where the kernel lacks THP).
 */
int advise_huge_pages(void *addr, std::size_t len, bool on) noexcept;

/** What the kernel does with transparent huge pages (/sys/kernel/mm/transparent_hugepage/enabled). */
enum class ThpMode { always, madvise, never, absent };
/** The bracketed choice of that file's text ("always [madvise] never"); absent when none. */
ThpMode parse_thp_mode(const std::string &text) noexcept;
/** This machine's mode (reads the file each call: call it when a tier opens, not per allocation). */
ThpMode thp_mode();
/** "always", "madvise", "never", "absent". */
const char *thp_mode_name(ThpMode m) noexcept;

}  // namespace tiermem::platform

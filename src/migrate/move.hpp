// Moving a range's pages to other memory while its address stays the same: the mechanisms a
// migrating tier is built from (issue 17). Costs of each, measured on a real kernel, are in
// bench/bench_migrate.cpp.
#pragma once
#include <sys/types.h>

#include <cstddef>

namespace tiermem::migrate {

/** Where a range's bytes go. */
struct Destination {
  /** A shared mapping of this file or device (memfd, /dev/daxX.Y) at `offset`; -1: anonymous. */
  int fd = -1;
  off_t offset = 0;
  /** For anonymous memory: the NUMA node its pages must come from (-1: the default policy). */
  int node = -1;
  /** For anonymous memory: advised MADV_NOHUGEPAGE, so that its writes can be told per 4 KiB
   *  page (a transparent huge page has one soft-dirty bit for its 2 MiB). */
  bool base_pages = false;
};

/** What became of a move. */
struct MoveResult {
  int error = 0;             ///< 0, or -errno (-EIO: the source could not be read)
  std::size_t unreadable_at = 0;  ///< with -EIO: the offset of the first byte not read
};

/**
 * Puts new memory under [addr, addr + len) without changing the address: the range is fenced
 * (writers wait, readers go on), its bytes are copied with the machine-check-safe copy into
 * `to` mapped elsewhere, and that mapping is moved over the range (mremap, one step: no reader
 * ever sees it unmapped). Page aligned; for a device-dax destination, aligned to the device's
 * `align`. On a memory error in the source nothing changes: the range keeps its old memory
 * (writable again), the error is -EIO and `unreadable_at` says where the copy stopped (the
 * poisoned unit is in the poison registry, as for every tm_copy_mc).
 *
 * What a fence cannot stop: a write the kernel makes on the program's behalf (read(2), recv(2)
 * into the range) meets a read-only page inside the kernel and fails with EFAULT instead of
 * waiting, because the kernel sends no signal for its own accesses. On a stock kernel only
 * userfaultfd write-protection holds such writers, and it takes anonymous and shmem memory
 * only, with privilege (vm.unprivileged_userfaultfd is 0 on Debian), never device-dax. So the
 * fence is held for one copy and one mremap of the range (bench_migrate: copy_remap), and a
 * caller that cannot rule out such writes must not move the range.
 */
MoveResult remap_range(void *addr, std::size_t len, const Destination &to) noexcept;

/**
 * Moves the pages of [addr, addr + len) to NUMA node `node` with move_pages(2), in batches,
 * without changing the range's policy (so no mapping is split). Pages the kernel could not move
 * at first (busy) are asked again. Returns 0, or -errno; `*not_moved` (if given) receives the
 * number of pages that stayed where they were.
 */
int move_to_node(void *addr, std::size_t len, int node, std::size_t *not_moved = nullptr) noexcept;

}  // namespace tiermem::migrate

// Write tracking from the kernel's soft-dirty bits (tests/vm/scenarios/track-sources.sh shows
// what a stock 6.1 kernel offers): clear_refs 4 clears the bits of the whole process, and
// /proc/self/pagemap's bit 55 then tells which pages were written since, on anonymous memory,
// NUMA nodes and device-dax alike, unprivileged, without a signal or a hardware counter.
//
// Cost: each scan reads 8 bytes of pagemap per page of the ranges it asks about, and after a
// clear every page of the process takes one minor fault at its next first write (the kernel
// write-protects them to catch it). A process that uses soft-dirty itself (a checkpointer)
// would see its bits cleared.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tiermem::migrate {

class WriteTracker {
 public:
  /** Opens /proc/self/pagemap and clear_refs. Returns 0 or -errno (then nothing is tracked). */
  int open() noexcept;
  ~WriteTracker();

  /** Clears every soft-dirty bit of the process. Returns 0 or -errno. */
  int clear() noexcept;

  /**
   * Counts, for each `unit` bytes of [addr, addr + len), the pages written since the last
   * clear(). `counts` is resized to len / unit. Returns 0 or -errno.
   */
  int written(const void *addr, std::size_t len, std::size_t unit, std::vector<std::uint32_t> &counts);

  /** False when the kernel keeps no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY off): checked by
   *  probe(), which writes one page of its own and looks for the bit. */
  bool probe() noexcept;

 private:
  int pagemap_ = -1;
  int clear_refs_ = -1;
  std::vector<std::uint64_t> entries_;
};

}  // namespace tiermem::migrate

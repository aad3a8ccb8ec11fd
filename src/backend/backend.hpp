// Where a tier's pages come from. One backend = one jemalloc extent hook table (hooks.hpp):
// the heap creates one jemalloc arena per tier and hands it the backend's hooks. Every
// backend maps its memory inside the tier's address-space slot (heap/slots.hpp), so the
// pointer -> tier lookup is arithmetic, and carves extents out of it with a lock-free bump
// pointer: jemalloc retains what it gets (dalloc opts out), so nothing is ever given back
// to the carver and a bump pointer is the whole free-list.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backend/hooks.hpp"
#include "platform/ranges.hpp"

namespace tiermem::backend {

enum class Kind { node, devdax, emulated };

/** How a node tier binds its pages (mbind mode). */
enum class NodeMode { bind, preferred };

class Backend {
 public:
  virtual ~Backend() = default;
  Backend(const Backend &) = delete;
  Backend &operator=(const Backend &) = delete;

  Kind kind() const noexcept { return kind_; }
  /** One line for messages and `tiermem` output, e.g. "node 2 (MPOL_BIND)". */
  const std::string &description() const noexcept { return description_; }
  /** The hook table to give jemalloc's arenas.create. */
  extent_hooks_t *hooks() noexcept { return &table_.hooks; }

  std::byte *base() const noexcept { return base_; }
  /** Bytes this backend can ever hand out (device or memfd size, or the slot size). */
  std::size_t capacity() const noexcept { return capacity_; }
  /**
   * Bytes handed to jemalloc so far: extents only. jemalloc's own metadata never comes from
   * a backend (the heap serves it from DRAM, heap/extent_map.hpp), so the limit is exact.
   */
  std::size_t mapped() const noexcept { return cursor_.load(std::memory_order_relaxed); }
  /** Caps mapped(); extent requests beyond it fail, so allocations on the tier fail. */
  void set_limit(std::size_t bytes) noexcept { limit_.store(bytes, std::memory_order_relaxed); }
  std::size_t limit() const noexcept { return limit_.load(std::memory_order_relaxed); }
  /** Extent requests refused because the capacity or the limit was reached. */
  std::uint64_t refusals() const noexcept { return refusals_.load(std::memory_order_relaxed); }

  /**
   * Fork support. Memory mapped MAP_SHARED (memfd, device) would be shared by parent and
   * child after fork(), so both would allocate the same bytes. prepare_fork() (parent, all
   * jemalloc locks held) snapshots the used bytes; child_after_fork() maps the snapshot
   * privately in the child; parent_after_fork() drops it. No-ops for private memory.
   */
  virtual void prepare_fork() noexcept {}
  virtual void parent_after_fork() noexcept {}
  virtual void child_after_fork() noexcept {}

  /**
   * Transparent huge pages for the tier's memory (MADV_HUGEPAGE, or MADV_NOHUGEPAGE when
   * `on` is false): 0, or a negative errno. Only anonymous memory (node tiers) can have them:
   * -ENOTSUP elsewhere (a memfd is shmem, whose huge pages are a mount option; a device-dax
   * mapping is already made of the device's `align` units).
   */
  virtual int set_huge_pages(bool on) noexcept {
    (void)on;
    return -ENOTSUP;
  }

  /**
   * The file or device mapped at base() from its offset 0 (memfd, /dev/daxX.Y), which
   * migration copies a unit back into; -1 for anonymous memory (node tiers).
   */
  virtual int memory_fd() const noexcept { return -1; }

  /**
   * The tier's memory now migrates (an auto policy's SLOW): any of its units may be replaced
   * by anonymous memory on the fast node at the same address (migrate/move.hpp). From then on
   * a backend never relies on its file's pages being the ones mapped: a forced purge is
   * refused rather than punching a hole the address may no longer show (the bytes there would
   * not read as zero, which jemalloc would then assume), and the child's copy at fork() is
   * read from the addresses, every used byte, not from the file's data ranges. Never undone.
   */
  void set_migrating() noexcept { migrating_.store(true, std::memory_order_relaxed); }
  bool migrating() const noexcept { return migrating_.load(std::memory_order_relaxed); }

 protected:
  Backend(Kind kind, std::string description, const extent_hooks_t &hooks, std::byte *base,
          std::size_t capacity);
  /** Takes `size` bytes aligned to `align` from the region; nullptr when full or over limit. */
  void *carve(void *new_addr, std::size_t size, std::size_t align) noexcept;
  /** Bytes carved from the region's start (fork copies, offsets). */
  std::size_t used() const noexcept { return cursor_.load(std::memory_order_relaxed); }
  /** Stops further growth (used by a forked child whose device stayed with the parent). */
  void freeze() noexcept { limit_.store(mapped(), std::memory_order_relaxed); }

  static Backend *self(extent_hooks_t *hooks) noexcept {
    return reinterpret_cast<Table *>(hooks)->self;
  }

  // Hook functions shared by every backend (see backend.cpp for the why of each answer).
  static void *hook_alloc(extent_hooks_t *, void *, std::size_t, std::size_t, bool *, bool *,
                          unsigned);
  static bool hook_dalloc(extent_hooks_t *, void *, std::size_t, bool, unsigned);
  static void hook_destroy(extent_hooks_t *, void *, std::size_t, bool, unsigned);
  static bool hook_commit(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                          unsigned);
  static bool hook_decommit(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                            unsigned);
  static bool hook_no_purge(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t,
                            unsigned);
  static bool hook_split(extent_hooks_t *, void *, std::size_t, std::size_t, std::size_t, bool,
                         unsigned);
  static bool hook_merge(extent_hooks_t *, void *, std::size_t, void *, std::size_t, bool,
                         unsigned);
  /** Whether freshly carved memory reads as zero (true for anonymous memory and memfd). */
  bool fresh_is_zero_ = true;

 private:
  struct Table {
    extent_hooks_t hooks;  // first: jemalloc hands this address back to every hook
    Backend *self;
  };
  Kind kind_;
  std::string description_;
  Table table_;
  std::byte *base_;
  std::size_t capacity_;
  std::atomic<std::size_t> cursor_{0};
  std::atomic<std::size_t> limit_{SIZE_MAX};
  std::atomic<std::uint64_t> refusals_{0};
  std::atomic<bool> migrating_{false};
};

/**
 * Anonymous memory over the whole slot, mbind()ed to `nodes` (MPOL_BIND, or MPOL_PREFERRED /
 * MPOL_PREFERRED_MANY). Capacity: `node_bytes` when known and smaller than the slot. Throws tiermem::Error naming the nodes when the kernel refuses.
 */
std::unique_ptr<Backend> make_node(const std::vector<unsigned> &nodes, NodeMode mode,
                                   std::byte *slot, std::size_t slot_size,
                                   std::uint64_t node_bytes = 0);

/**
 * A device-dax character device, locked exclusively (flock) and mapped MAP_SHARED at the
 * slot start. `size` and `align` come from sysfs (topology); the mapped length is `size`
 * rounded down to `align`. Throws tiermem::Error: -EBUSY naming the holder pid, -ENODEV when
 * the device is gone, -EINVAL for an alignment the device refuses.
 */
/**
 * `bad`: the device's known bad ranges (device offsets; the caller reads them, see
 * safety/badblocks.hpp). No extent ever overlaps one, and the child's copy at fork() never
 * reads one; one line on stderr says how many were excluded.
 */
std::unique_ptr<Backend> make_devdax(const std::string &path, std::uint64_t size,
                                     std::uint64_t align, std::byte *slot, std::size_t slot_size,
                                     std::vector<platform::ByteRange> bad = {});

/** A memfd of `size` bytes named `name`, mapped at the slot start (TIERMEM_EMULATE tiers). */
std::unique_ptr<Backend> make_emulated(const std::string &name, std::uint64_t size,
                                       std::byte *slot, std::size_t slot_size);

/**
 * Takes an exclusive, non-blocking flock on `fd`. On EWOULDBLOCK throws tiermem::Error
 * (-EBUSY) naming `what` and the holder's pid, found in /proc/locks by device and inode.
 */
void lock_exclusive(int fd, const std::string &what);

/** The pid holding a lock on (dev, inode) per `/proc/locks` text, or -1. Exposed for tests. */
long lock_holder(const std::string &proc_locks, unsigned long dev_major, unsigned long dev_minor,
                 unsigned long inode, long except_pid);

}  // namespace tiermem::backend

// Fork support for backends whose memory is MAP_SHARED (a memfd, a device): after fork() the
// parent and the child would otherwise allocate the same bytes. The parent snapshots the used
// bytes into a fresh memfd while jemalloc's locks are held (prepare); the child maps that
// snapshot over the slot, so it sees a private copy, as with ordinary memory.
#pragma once
#include <cstddef>
#include <string>

#include "platform/ranges.hpp"
#include "platform/raii.hpp"

namespace tiermem::backend {

class ForkSnapshot {
 public:
  /**
   * Copies [base, base+used) (only the data ranges of `src_fd`, if >= 0) into a new memfd,
   * except the `nskip` sorted ranges (offsets from base) in `skip`: known bad blocks, which
   * must not be read (a machine check); the child sees zeros there, where nothing lives.
   */
  void take(const std::string &name, int src_fd, std::byte *base, std::size_t used,
            std::size_t length, const platform::ByteRange *skip = nullptr,
            std::size_t nskip = 0) noexcept;
  /**
   * In the child: maps the snapshot at base and hands over its fd, or an empty one after
   * making [base, base+length) inaccessible when there is no snapshot.
   */
  platform::UniqueFd install(std::byte *base, std::size_t length) noexcept;
  /** In the parent: drops the snapshot. */
  void drop() noexcept;

 private:
  platform::UniqueFd fd_;
  int error_ = 0;
};

/** Replaces [addr, addr+len) by an inaccessible reservation (keeps the slot reserved). */
void reserve_again(std::byte *addr, std::size_t len) noexcept;

}  // namespace tiermem::backend

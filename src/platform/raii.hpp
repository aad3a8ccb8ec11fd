// Owners for the kernel objects every layer holds: a file descriptor, a mapping, and the
// NUMA node mask the memory-policy calls take. Each closes or unmaps exactly once, so error
// paths need no hand-written cleanup. None of them allocates: they are usable in a forked
// child before exec and in async-signal-safe code (their destructors are one system call).
#pragma once
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <utility>
#include <vector>

namespace tiermem::platform {

/** Owns one file descriptor; -1 means none. Move-only; closes once. */
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd &&o) noexcept : fd_(o.release()) {}
  UniqueFd &operator=(UniqueFd &&o) noexcept {
    if (this != &o) reset(o.release());
    return *this;
  }
  UniqueFd(const UniqueFd &) = delete;
  UniqueFd &operator=(const UniqueFd &) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  explicit operator bool() const noexcept { return valid(); }
  /** Gives the descriptor up without closing it; this owner is empty afterwards. */
  int release() noexcept { return std::exchange(fd_, -1); }
  /** Closes the descriptor held (if any) and takes `fd`. */
  void reset(int fd = -1) noexcept;
  /** Closes now and reports close(2)'s result (0, or -1 with errno); empty afterwards. */
  int close() noexcept;

 private:
  int fd_ = -1;
};

/** Owns one mmap()ed range; unmaps it on destruction. Move-only. */
class Mapping {
 public:
  Mapping() noexcept = default;
  /** Takes ownership of [addr, addr + len), which the caller mapped. */
  Mapping(void *addr, std::size_t len) noexcept : addr_(addr), len_(addr ? len : 0) {}
  Mapping(Mapping &&o) noexcept : addr_(std::exchange(o.addr_, nullptr)), len_(std::exchange(o.len_, 0)) {}
  Mapping &operator=(Mapping &&o) noexcept {
    if (this != &o) {
      reset();
      addr_ = std::exchange(o.addr_, nullptr);
      len_ = std::exchange(o.len_, 0);
    }
    return *this;
  }
  Mapping(const Mapping &) = delete;
  Mapping &operator=(const Mapping &) = delete;
  ~Mapping() { reset(); }

  /**
   * mmap(2): the new mapping, or an empty one with errno set (MAP_FAILED never escapes).
   * With MAP_FIXED the range at `addr` is replaced and the result owns it.
   */
  static Mapping map(void *addr, std::size_t len, int prot, int flags, int fd = -1,
                     off_t offset = 0) noexcept;

  void *addr() const noexcept { return addr_; }
  std::byte *bytes() const noexcept { return static_cast<std::byte *>(addr_); }
  std::size_t len() const noexcept { return len_; }
  bool valid() const noexcept { return addr_ != nullptr; }
  explicit operator bool() const noexcept { return valid(); }
  /** Gives the range up without unmapping it; this owner is empty afterwards. */
  std::pair<void *, std::size_t> release() noexcept {
    return {std::exchange(addr_, nullptr), std::exchange(len_, 0)};
  }
  /** Unmaps the range held (if any); empty afterwards. */
  void reset() noexcept;

 private:
  void *addr_ = nullptr;
  std::size_t len_ = 0;
};

/**
 * A set of NUMA nodes in the kernel's bitmask layout, fixed-size so that it can be copied into
 * tables used from a signal handler. Covers nodes 0..kMaxNodes-1 (the kernel's largest
 * MAX_NUMNODES); pass data() and maxnode() to mbind(2)/set_mempolicy(2).
 */
class NodeMask {
 public:
  static constexpr unsigned kMaxNodes = 1024;
  static constexpr unsigned kWordBits = 8 * sizeof(unsigned long);
  static constexpr unsigned kWords = kMaxNodes / kWordBits;

  constexpr NodeMask() noexcept = default;
  /** The mask of `nodes`; nodes at or above kMaxNodes are left out (see fits()). */
  static NodeMask of(const std::vector<unsigned> &nodes) noexcept;
  /** Whether `node` can be held in a mask. */
  static constexpr bool fits(unsigned node) noexcept { return node < kMaxNodes; }

  /** Adds `node`; false (mask unchanged) when it is beyond kMaxNodes. */
  constexpr bool set(unsigned node) noexcept {
    if (!fits(node)) return false;
    words_[node / kWordBits] |= 1UL << (node % kWordBits);
    return true;
  }
  constexpr void clear(unsigned node) noexcept {
    if (fits(node)) words_[node / kWordBits] &= ~(1UL << (node % kWordBits));
  }
  constexpr bool test(unsigned node) const noexcept {
    return fits(node) && (words_[node / kWordBits] >> (node % kWordBits) & 1UL) != 0;
  }
  bool empty() const noexcept;
  unsigned count() const noexcept;
  /** The nodes in ascending order. */
  std::vector<unsigned> nodes() const;

  const unsigned long *data() const noexcept { return words_.data(); }
  /** The maxnode argument for data(): the kernel reads maxnode - 1 bits. */
  static constexpr unsigned long maxnode() noexcept { return kMaxNodes + 1; }

  friend bool operator==(const NodeMask &, const NodeMask &) = default;

 private:
  std::array<unsigned long, kWords> words_{};
};

}  // namespace tiermem::platform

// Unprivileged SIGBUS for tests: a shared memfd mapping that extends past the file's end.
// Touching a page wholly past EOF raises SIGBUS BUS_ADRERR, as poison would (without root).
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace tiermem::test {

inline std::size_t page_size() { return static_cast<std::size_t>(sysconf(_SC_PAGESIZE)); }

class BadTail {
 public:
  /** `good_pages` readable pages (filled with a pattern), then `bad_pages` that fault. */
  BadTail(std::size_t good_pages, std::size_t bad_pages)
      : good_(good_pages * page_size()), size_((good_pages + bad_pages) * page_size()) {
    fd_ = memfd_create("tiermem-test-badtail", MFD_CLOEXEC);
    if (fd_ < 0) throw std::runtime_error("memfd_create failed");
    if (ftruncate(fd_, static_cast<off_t>(good_)) != 0) throw std::runtime_error("ftruncate failed");
    void *p = mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (p == MAP_FAILED) throw std::runtime_error("mmap failed");
    base_ = static_cast<unsigned char *>(p);
    for (std::size_t i = 0; i < good_; ++i) base_[i] = pattern(i);
  }
  BadTail(const BadTail &) = delete;
  BadTail &operator=(const BadTail &) = delete;
  ~BadTail() {
    munmap(base_, size_);
    close(fd_);
  }

  unsigned char *data() const { return base_; }
  /** Address of the first byte that faults. */
  unsigned char *bad() const { return base_ + good_; }
  std::size_t good_bytes() const { return good_; }
  std::size_t size() const { return size_; }
  static unsigned char pattern(std::size_t i) {
    return static_cast<unsigned char>((i * 131u + (i >> 8) * 7u + 1u) & 0xff);
  }

 private:
  int fd_ = -1;
  unsigned char *base_ = nullptr;
  std::size_t good_, size_;
};

}  // namespace tiermem::test

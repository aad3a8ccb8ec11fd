#include "backend/shared_mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

namespace tiermem::backend {

void ForkSnapshot::take(const std::string &name, int src_fd, std::byte *base, std::size_t used,
                        std::size_t length) noexcept {
  drop();
  if (used == 0) return;
  int fd = ::memfd_create(("tiermem-fork-" + name).c_str(), MFD_CLOEXEC);
  if (fd < 0) return;
  if (::ftruncate(fd, static_cast<off_t>(length)) != 0) {
    ::close(fd);
    return;
  }
  void *dst = ::mmap(nullptr, used, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (dst == MAP_FAILED) {
    ::close(fd);
    return;
  }
  auto *d = static_cast<std::byte *>(dst);
  if (src_fd >= 0) {
    // Copy only what was written: reading a hole of a shared memfd mapping would allocate it.
    off_t off = 0;
    const off_t end = static_cast<off_t>(used);
    while (off < end) {
      off_t data = ::lseek(src_fd, off, SEEK_DATA);
      if (data < 0 || data >= end) break;
      off_t hole = ::lseek(src_fd, data, SEEK_HOLE);
      if (hole < 0 || hole > end) hole = end;
      std::memcpy(d + data, base + data, static_cast<std::size_t>(hole - data));
      off = hole;
    }
  } else {
    std::memcpy(d, base, used);
  }
  ::munmap(dst, used);
  fd_ = fd;
}

int ForkSnapshot::install(std::byte *base, std::size_t length) noexcept {
  if (fd_ < 0) return -1;
  void *p = ::mmap(base, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_, 0);
  if (p == MAP_FAILED) {
    ::close(fd_);
    fd_ = -1;
    return -1;
  }
  int fd = fd_;
  fd_ = -1;
  return fd;
}

void ForkSnapshot::drop() noexcept {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void reserve_again(std::byte *addr, std::size_t len) noexcept {
  ::mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

}  // namespace tiermem::backend

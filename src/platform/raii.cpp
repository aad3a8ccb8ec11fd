#include "platform/raii.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <bit>

namespace tiermem::platform {

void UniqueFd::reset(int fd) noexcept {
  int old = std::exchange(fd_, fd);
  // Not retried on EINTR: Linux has released the descriptor even then.
  if (old >= 0) ::close(old);
}

int UniqueFd::close() noexcept {
  int old = std::exchange(fd_, -1);
  return old >= 0 ? ::close(old) : 0;
}

Mapping Mapping::map(void *addr, std::size_t len, int prot, int flags, int fd,
                     off_t offset) noexcept {
  void *p = ::mmap(addr, len, prot, flags, fd, offset);
  if (p == MAP_FAILED) return {};
  return {p, len};
}

void Mapping::reset() noexcept {
  void *addr = std::exchange(addr_, nullptr);
  std::size_t len = std::exchange(len_, 0);
  if (addr != nullptr) ::munmap(addr, len);
}

NodeMask NodeMask::of(const std::vector<unsigned> &nodes) noexcept {
  NodeMask m;
  for (unsigned n : nodes) m.set(n);
  return m;
}

bool NodeMask::empty() const noexcept {
  for (unsigned long w : words_)
    if (w != 0) return false;
  return true;
}

unsigned NodeMask::count() const noexcept {
  unsigned c = 0;
  for (unsigned long w : words_) c += static_cast<unsigned>(std::popcount(w));
  return c;
}

std::vector<unsigned> NodeMask::nodes() const {
  std::vector<unsigned> out;
  for (unsigned n = 0; n < kMaxNodes; ++n)
    if (test(n)) out.push_back(n);
  return out;
}

}  // namespace tiermem::platform

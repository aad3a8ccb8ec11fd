#include "platform/mempolicy.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace tiermem::platform {

long mbind(void *addr, std::size_t len, int mode, const unsigned long *nodemask,
           unsigned long maxnode, unsigned flags) noexcept {
  return ::syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
}

long mbind(void *addr, std::size_t len, int mode, const NodeMask &nodes, unsigned flags) noexcept {
  return mbind(addr, len, mode, nodes.data(), NodeMask::maxnode(), flags);
}

long set_mempolicy(int mode, const NodeMask &nodes) noexcept {
  return ::syscall(SYS_set_mempolicy, mode, nodes.data(), NodeMask::maxnode());
}

int madvise(void *addr, std::size_t len, int advice) noexcept { return ::madvise(addr, len, advice); }

int discard_pages(void *addr, std::size_t len) noexcept { return ::madvise(addr, len, MADV_DONTNEED); }

}  // namespace tiermem::platform

#include "platform/mempolicy.hpp"

#include <sys/syscall.h>
#include <unistd.h>

namespace tiermem::platform {

long mbind(void *addr, std::size_t len, int mode, const unsigned long *nodemask,
           unsigned long maxnode, unsigned flags) noexcept {
  return ::syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
}

}  // namespace tiermem::platform

#include "platform/process.hpp"

#include "platform/raii.hpp"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

namespace tiermem::platform {

std::string command_name() {
  // read(2), not read_file(): the name is wanted at exit, and this needs no buffer but the
  // result. The kernel caps comm at 16 bytes, newline included.
  char buf[64];
  ssize_t n = -1;
  if (UniqueFd fd(::open("/proc/self/comm", O_RDONLY | O_CLOEXEC)); fd) n = ::read(fd.get(), buf, sizeof buf);
  if (n <= 0) return program_invocation_short_name;
  std::string name(buf, static_cast<std::size_t>(n));
  if (name.back() == '\n') name.pop_back();
  return name;
}

}  // namespace tiermem::platform

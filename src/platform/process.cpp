#include "platform/process.hpp"

#include "platform/raii.hpp"
#include "platform/sysfs.hpp"
#include "platform/text.hpp"

#include <algorithm>

#include <errno.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

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

std::uint64_t start_time(long pid) noexcept {
  char path[40] = "/proc/self/stat";
  if (pid > 0) {
    // "/proc/" + digits + "/stat", without snprintf (not async-signal-safe).
    char digits[24];
    int n = 0;
    for (long v = pid; v > 0 && n < 20; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
    char *p = path + 6;
    while (n > 0) *p++ = digits[--n];
    for (const char *t = "/stat"; *t != '\0'; ++t) *p++ = *t;
    *p = '\0';
  }
  char buf[1024];
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  ssize_t got = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (got <= 0) return 0;
  buf[got] = '\0';
  // The command (field 2) is in parentheses and may hold spaces and ')': count from the last.
  char *c = nullptr;
  for (char *q = buf; *q != '\0'; ++q)
    if (*q == ')') c = q;
  if (c == nullptr) return 0;
  int field = 2;
  for (char *q = c + 1; *q != '\0'; ++q) {
    if (*q != ' ') continue;
    if (++field == 22) {
      std::uint64_t v = 0;
      for (++q; *q >= '0' && *q <= '9'; ++q) v = v * 10 + static_cast<unsigned>(*q - '0');
      return v;
    }
  }
  return 0;
}

bool name_anon_mapping(void *addr, std::size_t len, const char *name) noexcept {
  return ::prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, reinterpret_cast<unsigned long>(addr), len,
                 reinterpret_cast<unsigned long>(name)) == 0;
}

std::optional<std::uint64_t> max_map_count() {
  int err = 0;
  const auto text = read_file("/proc/sys/vm/max_map_count", err);
  return text ? parse_u64(*text) : std::nullopt;
}

std::optional<std::uint64_t> mapping_count() {
  int err = 0;
  const auto text = read_file("/proc/self/maps", err);
  if (!text) return std::nullopt;
  return static_cast<std::uint64_t>(std::count(text->begin(), text->end(), '\n'));
}

}  // namespace tiermem::platform

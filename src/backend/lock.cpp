// Exclusive use of a device: flock(LOCK_EX|LOCK_NB), and when it is refused, the holder's pid
// from /proc/locks so that the error can name it.
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "backend/backend.hpp"
#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::backend {

long lock_holder(const std::string &proc_locks, unsigned long dev_major, unsigned long dev_minor,
                 unsigned long inode, long except_pid) {
  // Lines look like "1: FLOCK  ADVISORY  WRITE 4711 fd:00:1234 0 EOF"; blocked waiters are
  // "1: -> FLOCK ..." and are skipped. Device numbers are hex, the inode decimal.
  for (std::string_view line : platform::split(proc_locks, '\n')) {
    auto f = platform::words(line);
    if (f.size() < 2 || f[1] == "->") continue;
    if (f.size() < 6) continue;
    const std::string pid(f[4]), where(f[5]);
    unsigned long maj = 0, min = 0, ino = 0;
    if (std::sscanf(where.c_str(), "%lx:%lx:%lu", &maj, &min, &ino) != 3) continue;
    if (maj != dev_major || min != dev_minor || ino != inode) continue;
    char *end = nullptr;
    long p = std::strtol(pid.c_str(), &end, 10);
    if (end == pid.c_str() || p == except_pid) continue;
    return p;
  }
  return -1;
}

void lock_exclusive(int fd, const std::string &what) {
  if (::flock(fd, LOCK_EX | LOCK_NB) == 0) return;
  int err = errno;
  if (err != EWOULDBLOCK) {
    throw Error(-err, "tiermem: cannot lock " + what + ": " + std::strerror(err));
  }
  struct stat st {};
  long holder = -1;
  if (::fstat(fd, &st) == 0) {
    int read_err = 0;
    if (auto text = platform::read_file("/proc/locks", read_err))
      holder = lock_holder(*text, major(st.st_dev), minor(st.st_dev), st.st_ino, -1);
  }
  std::string by = holder > 0 ? "held by pid " + std::to_string(holder) : "held by another process";
  throw Error(-EBUSY, "tiermem: " + what + " is busy (" + by +
                          "); stop that process or pick another device");
}

}  // namespace tiermem::backend

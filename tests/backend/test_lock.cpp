// Exclusive use of a device: flock, and the holder's pid from /proc/locks in the refusal.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <doctest/doctest.h>

#include "backend/backend.hpp"
#include "tiermem/error.hpp"

using namespace tiermem::backend;

TEST_CASE("lock_holder finds the pid holding a lock on a device and inode") {
  const char *locks =
      "1: POSIX  ADVISORY  WRITE 100 08:01:777 0 EOF\n"
      "2: FLOCK  ADVISORY  WRITE 4711 00:05:1234 0 EOF\n"
      "2: -> FLOCK  ADVISORY  WRITE 4800 00:05:1234 0 EOF\n"
      "3: FLOCK  ADVISORY  WRITE 99 fd:1a:1234 0 EOF\n";
  CHECK(lock_holder(locks, 0, 5, 1234, -1) == 4711);
  CHECK(lock_holder(locks, 0xfd, 0x1a, 1234, -1) == 99);
  CHECK(lock_holder(locks, 0, 5, 1235, -1) == -1);
  CHECK(lock_holder(locks, 0, 5, 1234, 4711) == -1);  // the waiter line is not a holder
  CHECK(lock_holder("garbage\n\n", 0, 5, 1234, -1) == -1);
}

TEST_CASE("a file locked by another process is refused naming the holder and the remedy") {
  char path[] = "/tmp/tiermem-lock-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  int ready[2];
  REQUIRE(pipe(ready) == 0);
  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    int cfd = open(path, O_RDWR);
    if (cfd < 0 || flock(cfd, LOCK_EX) != 0) _exit(1);
    char c = 'x';
    if (write(ready[1], &c, 1) != 1) _exit(1);
    pause();
    _exit(0);
  }
  char c = 0;
  REQUIRE(read(ready[0], &c, 1) == 1);
  try {
    lock_exclusive(fd, path);
    FAIL("the lock was granted");
  } catch (const tiermem::Error &e) {
    std::string msg = e.what();
    INFO(msg);
    CHECK(e.code() == -EBUSY);
    CHECK(msg.find(std::string(path) + " is busy (held by pid " + std::to_string(child) + ")") !=
          std::string::npos);
    CHECK(msg.find("stop that process or pick another device") != std::string::npos);
  }
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
  CHECK_NOTHROW(lock_exclusive(fd, path));  // free again once the holder is gone
  close(fd);
  close(ready[0]);
  close(ready[1]);
  unlink(path);
}

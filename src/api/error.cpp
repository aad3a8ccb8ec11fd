#include "api/error.hpp"

#include <cerrno>
#include <cstring>

#include "tiermem/tiermem.h"

namespace tiermem {

namespace {
// Global-dynamic TLS (the default for -fPIC code): unlike initial-exec TLS it never stops
// libtiermem from being dlopen()ed. The buffer is fixed so that recording never allocates.
thread_local char last_error[512];
}  // namespace

TM_API int set_last_error(int code, const char *message) noexcept {
  std::size_t n = ::strnlen(message, sizeof last_error - 1);
  std::memcpy(last_error, message, n);
  last_error[n] = '\0';
  return code;
}

}  // namespace tiermem

extern "C" {

TM_API const char *tm_strerror(int code) {
  switch (code) {
    case 0: return "success";
    case -ENOENT: return "no such tier, device or file";
    case -EINVAL: return "invalid argument";
    case -EBUSY: return "device is busy";
    case -ENOMEM: return "out of memory on the requested tier";
    case -EIO: return "I/O or internal error";
    case -ERANGE: return "index out of range";
    case -EACCES: return "permission denied";
    case -ENODEV: return "no such device";
    case -EHWPOISON: return "memory poisoned (uncorrectable error)";
    default: return code < 0 ? std::strerror(-code) : "not an error code";
  }
}

TM_API const char *tm_last_error(void) { return tiermem::last_error; }

}  // extern "C"

// The C ABI's error plumbing: every extern "C" entry point converts exceptions to a negative
// code here and records the one-line message for tm_last_error(). No exception crosses the ABI.
#pragma once
#include <string>

#include "tiermem/error.hpp"

namespace tiermem {

/**
 * Records `message` as the calling thread's tm_last_error() text and returns `code`.
 * Exported (not hidden like the rest of src/), so that a C ABI compiled outside libtiermem
 * (the buffer pool's, bufferpool/c_api.cpp) records its errors where tiermem's are read,
 * whether it links libtiermem.a or libtiermem.so. Allocates nothing; cut at 511 bytes.
 */
TM_API int set_last_error(int code, const char *message) noexcept;

}  // namespace tiermem

namespace tiermem::api {

/** Records `message` as the calling thread's last error and returns `code` (negative). */
inline int set_last_error(int code, const std::string &message) noexcept {
  return tiermem::set_last_error(code, message.c_str());
}
/** The same for a C string: allocates nothing, for failure paths of the allocator itself. */
inline int set_last_error(int code, const char *message) noexcept {
  return tiermem::set_last_error(code, message);
}

/**
 * Runs `fn` (returning int, 0 or a negative code); converts a tiermem::Error,
 * std::bad_alloc or any other exception into a negative code plus last-error message.
 */
template <class Fn>
int guard(Fn &&fn) noexcept {
  try {
    return fn();
  } catch (const Error &e) {
    return set_last_error(e.code(), e.what());
  } catch (const std::bad_alloc &) {
    return set_last_error(-12 /*ENOMEM*/, "tiermem: out of memory");
  } catch (const std::exception &e) {
    return set_last_error(-5 /*EIO*/, std::string("tiermem: internal error: ") + e.what());
  } catch (...) {
    return set_last_error(-5 /*EIO*/, "tiermem: internal error");
  }
}

}  // namespace tiermem::api

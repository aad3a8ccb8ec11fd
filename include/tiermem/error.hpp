/**
 * @file error.hpp
 * @brief The exception the C++ API throws. It carries the same negative errno-style code
 * the C ABI returns, and a one-line message that names the object and the remedy.
 * Depends on export.h only, so that every layer may use it without the C ABI.
 */
#pragma once
#include <stdexcept>
#include <string>

#include "tiermem/export.h"

namespace tiermem {

// Exported so that its type info is shared across the library boundary (catch works).
class TM_API Error : public std::runtime_error {
 public:
  Error(int code, const std::string &message) : std::runtime_error(message), code_(code) {}
  /** Negative errno-style code, as the C ABI would return it. */
  int code() const noexcept { return code_; }

 private:
  int code_;
};

}  // namespace tiermem

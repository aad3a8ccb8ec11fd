// What every fuzz target shares: the input as text, the checks a finding fails, and a scratch
// directory for targets that write their input as files (a sysfs tree, an XML file).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

#include "tiermem/error.hpp"

namespace fuzz {

inline std::string_view text(const std::uint8_t *data, std::size_t size) {
  return {reinterpret_cast<const char *>(data), size};
}

[[noreturn]] inline void fail(const char *file, int line, const char *what) {
  std::fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
  std::abort();
}

#define FUZZ_CHECK(cond) ((cond) ? (void)0 : ::fuzz::fail(__FILE__, __LINE__, #cond))

/**
 * A refusal must be the project's one-line error: tiermem::Error, starting "tiermem", with a
 * negative errno and no line break of its own (one may come only from the quoted input).
 */
inline void check_error(const tiermem::Error &e, std::string_view input) {
  const std::string_view m = e.what();
  FUZZ_CHECK(m.substr(0, 7) == "tiermem");
  FUZZ_CHECK(e.code() < 0);
  if (input.find('\n') == std::string_view::npos && input.find('\r') == std::string_view::npos)
    FUZZ_CHECK(m.find('\n') == std::string_view::npos);
}

/** A directory of this process's own below $TMPDIR, removed at exit. */
class ScratchDir {
 public:
  ScratchDir() {
    const char *tmp = std::getenv("TMPDIR");
    std::string t = std::string(tmp && *tmp ? tmp : "/tmp") + "/tiermem-fuzz-XXXXXX";
    if (::mkdtemp(t.data()) == nullptr) fail(__FILE__, __LINE__, "mkdtemp");
    path_ = t;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  ScratchDir(const ScratchDir &) = delete;
  ScratchDir &operator=(const ScratchDir &) = delete;
  const std::filesystem::path &path() const { return path_; }

  /** Empties the directory (between inputs). */
  void clear() const {
    std::error_code ec;
    for (const auto &e : std::filesystem::directory_iterator(path_, ec))
      std::filesystem::remove_all(e.path(), ec);
  }
  /** Writes `bytes` to `rel`, creating its directories. */
  void write(const std::string &rel, std::string_view bytes) const {
    const auto p = path_ / rel;
    std::filesystem::create_directories(p.parent_path());
    std::FILE *f = std::fopen(p.c_str(), "wb");
    if (f == nullptr) fail(__FILE__, __LINE__, "fopen");
    if (!bytes.empty()) std::fwrite(bytes.data(), 1, bytes.size(), f);
    std::fclose(f);
  }

 private:
  std::filesystem::path path_;
};

}  // namespace fuzz

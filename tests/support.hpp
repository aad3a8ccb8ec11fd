// Helpers shared by the host-side tests: where the recorded machines are, scratch copies of
// them that a test may corrupt, and running the `tiermem` command.
#pragma once
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <sys/wait.h>
#include <string>
#include <utility>

#include "tiermem/error.hpp"

namespace tiermem::test {

namespace fs = std::filesystem;

/** The root of an unpacked recorded machine, e.g. machine("hwloc/fakeheteromemtiers"). */
inline std::string machine(const std::string &archive_stem) {
  fs::path dir = fs::path(TIERMEM_UNPACKED_FIXTURES) / archive_stem;
  // An archive unpacks to one directory shaped like "/".
  for (const auto &e : fs::directory_iterator(dir))
    if (e.is_directory()) return e.path().string();
  throw std::runtime_error("fixture " + dir.string() + " has no machine directory");
}

inline std::string fixture_file(const std::string &rel) {
  return (fs::path(TIERMEM_TEST_FIXTURES) / rel).string();
}

/** The VmFlags line of the smaps entry holding `p` (" rd wr mr mw me nr hg ..."), or " ". */
inline std::string vm_flags(const void *p) {
  FILE *f = std::fopen("/proc/self/smaps", "r");
  if (f == nullptr) throw std::runtime_error("cannot open /proc/self/smaps");
  char line[512];
  bool inside = false;
  std::string out;
  const auto at = reinterpret_cast<std::uintptr_t>(p);
  while (std::fgets(line, sizeof line, f) != nullptr) {
    unsigned long lo = 0, hi = 0;
    char c = 0;
    if (std::sscanf(line, "%lx-%lx %c", &lo, &hi, &c) == 3 && c != ':') {
      inside = lo <= at && at < hi;
    } else if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
      out = line + 8;
      break;
    }
  }
  std::fclose(f);
  return " " + out;
}

/** A scratch directory removed at scope exit. */
class TempDir {
 public:
  TempDir() {
    std::string templ = (fs::temp_directory_path() / "tiermem-test-XXXXXX").string();
    if (!::mkdtemp(templ.data())) throw std::runtime_error("mkdtemp failed");
    path_ = templ;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;
  const fs::path &path() const { return path_; }

 private:
  fs::path path_;
};

/** A writable copy of a recorded machine that a test may corrupt. */
inline fs::path copy_machine(const TempDir &dir, const std::string &archive_stem) {
  fs::path dst = dir.path() / "root";
  fs::copy(machine(archive_stem), dst,
           fs::copy_options::recursive | fs::copy_options::copy_symlinks);
  return dst;
}

inline void write_file(const fs::path &p, const std::string &text) {
  fs::remove(p);
  std::FILE *f = std::fopen(p.c_str(), "w");
  if (!f) throw std::runtime_error("cannot write " + p.string());
  std::fputs(text.c_str(), f);
  std::fclose(f);
}

/** How many lines `s` holds (messages must be one line). */
inline std::size_t lines(const std::string &s) {
  std::size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

struct Run {
  int status = -1;  ///< exit code
  std::string out;  ///< stdout
  std::string err;  ///< stderr
};

/** Runs a shell command line and captures its stdout, stderr and exit status. */
inline Run run_command(const std::string &cmdline) {
  TempDir tmp;
  const std::string err_file = (tmp.path() / "err").string();
  const std::string cmd = "( " + cmdline + " ) 2>" + err_file;
  Run r;
  std::FILE *p = ::popen(cmd.c_str(), "r");
  if (!p) throw std::runtime_error("popen failed");
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.out.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  std::FILE *e = std::fopen(err_file.c_str(), "r");
  while (e && (n = std::fread(buf, 1, sizeof buf, e)) > 0) r.err.append(buf, n);
  if (e) std::fclose(e);
  return r;
}

/** Runs the tiermem CLI with `args` (shell-quoted by the caller), `env` as VAR=value words. */
inline Run run_cli(const std::string &args, const std::string &env = "") {
  return run_command(env + " " TIERMEM_CLI " " + args);
}

/** The code and message of the tiermem::Error that `fn` throws; {0, ""} when it throws none. */
inline std::pair<int, std::string> error_code_of(auto &&fn) {
  try {
    fn();
  } catch (const tiermem::Error &e) {
    return {e.code(), e.what()};
  }
  return {0, ""};
}

/** The message of the tiermem::Error that `fn` throws; "" when it throws none. */
inline std::string error_of(auto &&fn) {
  try {
    fn();
  } catch (const tiermem::Error &e) {
    return e.what();
  }
  return "";
}

}  // namespace tiermem::test

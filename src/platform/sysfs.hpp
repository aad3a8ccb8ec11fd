// Reads of sysfs-shaped trees below an injectable root, so that discovery runs unchanged on
// this machine ("/") and on a recorded machine (a directory shaped like "/"). Every failure
// throws tiermem::Error with a message naming the file and what is wrong with it.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tiermem::platform {

class SysfsRoot {
 public:
  /** `root` is "/" or a recorded machine; throws when it is missing or not a directory. */
  explicit SysfsRoot(std::string root);

  const std::string &root() const noexcept { return root_; }
  /** The path on disk of `rel` ("sys/bus/dax/devices"), for messages and hwloc. */
  std::string path(const std::string &rel) const;

  bool exists(const std::string &rel) const;
  /** Whether an absolute path is a directory (no root applied). */
  static bool is_directory(const std::string &abs_path);
  bool is_dir(const std::string &rel) const;
  /** Entries of a directory (names only, sorted); empty when the directory is absent. */
  std::vector<std::string> list(const std::string &rel) const;

  /** File contents without the trailing newline; throws if unreadable. */
  std::string read(const std::string &rel) const;
  /** Like read(), but nullopt when the file does not exist (still throws when unreadable). */
  std::optional<std::string> read_optional(const std::string &rel) const;
  /** A decimal or 0x-hex unsigned number; throws naming the file when malformed. */
  std::uint64_t read_u64(const std::string &rel) const;
  std::optional<std::uint64_t> read_u64_optional(const std::string &rel) const;
  /** Like read_u64_optional(), but nullopt also when the file is root-only (EACCES/EPERM):
   *  for attributes the kernel hides from unprivileged readers (a dax device's `resource`). */
  std::optional<std::uint64_t> read_u64_if_readable(const std::string &rel) const;
  /** A signed decimal (target_node may be -1); throws naming the file when malformed. */
  std::optional<std::int64_t> read_i64_optional(const std::string &rel) const;
  /** A kernel cpumask ("00000000,0000000f"): whether any bit is set; throws when malformed. */
  bool read_mask_nonzero(const std::string &rel) const;
  /** A kernel cpulist/nodelist ("0-2,4,8-9"); throws naming the file when malformed. */
  std::vector<unsigned> read_list(const std::string &rel) const;
  /** The last component of a symlink's target ("device_dax" for driver links), or "". */
  std::string link_basename(const std::string &rel) const;

 private:
  std::string root_;
};

/** Parses a kernel list ("0-2,4"); nullopt when malformed. */
std::optional<std::vector<unsigned>> parse_list(const std::string &text);
/** Parses a decimal or 0x-prefixed hexadecimal unsigned number; nullopt when malformed. */
std::optional<std::uint64_t> parse_u64(const std::string &text);

}  // namespace tiermem::platform

#include "platform/sysfs.hpp"

#include <dirent.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::platform {

namespace {
bool exists_abs(const std::string &p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0;
}

std::string trim(std::string s) {
  // Recorded sysfs dumps sometimes keep the kernel's trailing NUL after the newline.
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ' || s.back() == '\t' || s.back() == '\0'))
    s.pop_back();
  std::size_t i = 0;
  while (i < s.size() && (s[i] == ' ' || s[i] == '\t')) ++i;
  return s.substr(i);
}
}  // namespace

std::optional<std::uint64_t> parse_u64(const std::string &text) {
  std::string t = trim(text);
  int base = 10;
  std::size_t off = 0;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    base = 16;
    off = 2;
  }
  if (off >= t.size()) return std::nullopt;
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(t.data() + off, t.data() + t.size(), v, base);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

std::optional<std::vector<unsigned>> parse_list(const std::string &text) {
  std::vector<unsigned> out;
  std::string t = trim(text);
  if (t.empty()) return out;
  for (std::string_view piece : split(t, ',')) {
    std::string item(piece);
    auto dash = item.find('-');
    auto lo = parse_u64(item.substr(0, dash));
    auto hi = dash == std::string::npos ? lo : parse_u64(item.substr(dash + 1));
    if (!lo || !hi || *hi < *lo || *hi > 65535) return std::nullopt;
    for (auto v = *lo; v <= *hi; ++v) out.push_back(static_cast<unsigned>(v));
  }
  return out;
}

SysfsRoot::SysfsRoot(std::string root) : root_(std::move(root)) {
  if (root_.empty()) root_ = "/";
  if (!exists_abs(root_))
    throw Error(-ENOENT, "tiermem: fsroot " + root_ +
                             " does not exist; point --fsroot/TIERMEM_FSROOT at a recorded machine");
  if (!is_directory(root_))
    throw Error(-ENOTDIR, "tiermem: fsroot " + root_ + " is not a directory");
  if (!is_directory(path("sys/devices/system/node")))
    throw Error(-ENOENT, "tiermem: fsroot " + root_ +
                             " has no sys/devices/system/node; it is not a recorded machine "
                             "(expected a directory shaped like /)");
}

std::string SysfsRoot::path(const std::string &rel) const {
  if (root_ == "/") return "/" + rel;
  return root_ + (root_.back() == '/' ? "" : "/") + rel;
}

// POSIX calls rather than std::filesystem: its path code drags libstdc++'s locale machinery
// into every program that preloads tiermem.
bool SysfsRoot::is_directory(const std::string &abs_path) {
  struct stat st {};
  return ::stat(abs_path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

bool SysfsRoot::exists(const std::string &rel) const { return exists_abs(path(rel)); }

bool SysfsRoot::is_dir(const std::string &rel) const { return is_directory(path(rel)); }

std::vector<std::string> SysfsRoot::list(const std::string &rel) const {
  std::vector<std::string> names;
  DIR *d = ::opendir(path(rel).c_str());
  if (d == nullptr) return names;
  while (const dirent *e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(d);
  std::sort(names.begin(), names.end());
  return names;
}

std::optional<std::string> SysfsRoot::read_optional(const std::string &rel) const {
  const std::string p = path(rel);
  int err = 0;
  auto text = read_file(p, err);
  if (!text) {
    if (err == ENOENT) return std::nullopt;
    throw Error(-err, "tiermem: cannot read " + p + ": " + std::strerror(err) +
                          "; check permissions");
  }
  return trim(std::move(*text));
}

std::string SysfsRoot::read(const std::string &rel) const {
  auto v = read_optional(rel);
  if (!v) throw Error(-ENOENT, "tiermem: " + path(rel) + " is missing");
  return *v;
}

std::uint64_t SysfsRoot::read_u64(const std::string &rel) const {
  auto v = read_u64_optional(rel);
  if (!v) throw Error(-ENOENT, "tiermem: " + path(rel) + " is missing");
  return *v;
}

std::optional<std::uint64_t> SysfsRoot::read_u64_optional(const std::string &rel) const {
  auto text = read_optional(rel);
  if (!text) return std::nullopt;
  auto v = parse_u64(*text);
  if (!v)
    throw Error(-EINVAL, "tiermem: " + path(rel) + ": '" + *text +
                             "' is not a number; the file is corrupt or not from a Linux sysfs");
  return v;
}

std::optional<std::uint64_t> SysfsRoot::read_u64_if_readable(const std::string &rel) const {
  try {
    return read_u64_optional(rel);
  } catch (const Error &e) {
    if (e.code() != -EACCES && e.code() != -EPERM) throw;
    return std::nullopt;
  }
}

std::optional<std::int64_t> SysfsRoot::read_i64_optional(const std::string &rel) const {
  auto text = read_optional(rel);
  if (!text) return std::nullopt;
  std::int64_t v = 0;
  const char *b = text->data(), *e = text->data() + text->size();
  auto [p, ec] = std::from_chars(b, e, v);
  if (text->empty() || ec != std::errc() || p != e)
    throw Error(-EINVAL, "tiermem: " + path(rel) + ": '" + *text +
                             "' is not a number; the file is corrupt or not from a Linux sysfs");
  return v;
}

std::vector<unsigned> SysfsRoot::read_list(const std::string &rel) const {
  std::string text = read(rel);
  auto v = parse_list(text);
  if (!v)
    throw Error(-EINVAL, "tiermem: " + path(rel) + ": '" + text +
                             "' is not a kernel list like 0-2,4; the file is corrupt");
  return *v;
}

bool SysfsRoot::read_mask_nonzero(const std::string &rel) const {
  const std::string text = read(rel);
  bool any = false;
  for (char c : text) {
    if (c == ',') continue;
    if (!std::isxdigit(static_cast<unsigned char>(c)))
      throw Error(-EINVAL, "tiermem: " + path(rel) + ": '" + text +
                               "' is not a kernel cpumask like 0000000f; the file is corrupt");
    any = any || c != '0';
  }
  return any;
}

std::string SysfsRoot::link_basename(const std::string &rel) const {
  char buf[PATH_MAX];
  ssize_t n = ::readlink(path(rel).c_str(), buf, sizeof buf - 1);
  if (n <= 0) return "";
  std::string target(buf, static_cast<std::size_t>(n));
  while (!target.empty() && target.back() == '/') target.pop_back();
  return target.substr(target.rfind('/') + 1);
}

}  // namespace tiermem::platform

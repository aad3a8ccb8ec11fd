#include "platform/text.hpp"

#include "platform/raii.hpp"
#include "tiermem/error.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <iterator>

namespace tiermem::platform {

std::optional<std::string> read_file(const std::string &path, int &err) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) {
    err = errno;
    return std::nullopt;
  }
  std::string out;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      err = errno;
      return std::nullopt;
    }
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  err = 0;
  return out;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == sep) {
      out.push_back(s.substr(start, i - start));
      start = i + 1;
    }
  }
  return out;
}

std::vector<std::string_view> words(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n')) ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ' && s[j] != '\t' && s[j] != '\n') ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

}  // namespace tiermem::platform

namespace tiermem::platform {

std::string size_text(std::uint64_t bytes) {
  static const char *const units[] = {"bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  unsigned u = 0;
  while (u + 1 < std::size(units) && bytes >> (10 * (u + 1)) != 0 &&
         (bytes & ((std::uint64_t{1} << (10 * (u + 1))) - 1)) == 0) {
    ++u;
  }
  if (u == 0 && bytes >= 1024) {
    // Not a whole number of any unit: the nearest one, to a tenth, reads better than digits.
    while (u + 1 < std::size(units) && bytes >> (10 * (u + 1)) != 0) ++u;
    char buf[48];
    std::snprintf(buf, sizeof buf, "%.1f %s",
                  static_cast<double>(bytes) / static_cast<double>(std::uint64_t{1} << (10 * u)),
                  units[u]);
    return buf;
  }
  if (bytes == 1) return "1 byte";
  return std::to_string(bytes >> (10 * u)) + " " + units[u];
}

std::optional<std::uint64_t> try_parse_size(std::string_view text, const char *&why) {
  auto bad = [&](const char *reason) {
    why = reason;
    return std::nullopt;
  };
  std::size_t i = 0;
  std::uint64_t n = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    std::uint64_t d = static_cast<std::uint64_t>(text[i] - '0');
    if (n > (UINT64_MAX - d) / 10) return bad("too large");
    n = n * 10 + d;
    ++i;
  }
  if (i == 0) return bad("no digits");
  std::string suffix;
  for (; i < text.size(); ++i) suffix += static_cast<char>(text[i] | 0x20);  // lower case
  unsigned shift = 0;
  if (!suffix.empty()) {
    switch (suffix[0]) {
      case 'k': shift = 10; break;
      case 'm': shift = 20; break;
      case 'g': shift = 30; break;
      case 't': shift = 40; break;
      case 'b': shift = 0; break;
      default: return bad("unknown unit");
    }
    std::string rest = suffix.substr(1);
    if (suffix[0] == 'b' ? !rest.empty() : !(rest.empty() || rest == "b" || rest == "ib")) {
      return bad("unknown unit");
    }
  }
  if (shift != 0 && n > (UINT64_MAX >> shift)) return bad("too large");
  return n << shift;
}


std::uint64_t parse_size(std::string_view text, std::string_view what) {
  const char *why = "";
  if (auto n = try_parse_size(text, why)) return *n;
  throw Error(-EINVAL, "tiermem: " + std::string(what) + ": '" + std::string(text) +
                           "' is not a size (" + why + "); use e.g. 4096, 64K, 512M, 1G");
}

}  // namespace tiermem::platform

#include "platform/mempolicy.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

#include "platform/text.hpp"

namespace tiermem::platform {

long mbind(void *addr, std::size_t len, int mode, const unsigned long *nodemask,
           unsigned long maxnode, unsigned flags) noexcept {
  return ::syscall(SYS_mbind, addr, len, mode, nodemask, maxnode, flags);
}

long mbind(void *addr, std::size_t len, int mode, const NodeMask &nodes, unsigned flags) noexcept {
  return mbind(addr, len, mode, nodes.data(), NodeMask::maxnode(), flags);
}

long set_mempolicy(int mode, const NodeMask &nodes) noexcept {
  return ::syscall(SYS_set_mempolicy, mode, nodes.data(), NodeMask::maxnode());
}

int madvise(void *addr, std::size_t len, int advice) noexcept { return ::madvise(addr, len, advice); }

int discard_pages(void *addr, std::size_t len) noexcept { return ::madvise(addr, len, MADV_DONTNEED); }

int advise_huge_pages(void *addr, std::size_t len, bool on) noexcept {
  return ::madvise(addr, len, on ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
}

ThpMode parse_thp_mode(const std::string &text) noexcept {
  const auto open = text.find('[');
  const auto close = open == std::string::npos ? open : text.find(']', open);
  if (close == std::string::npos) return ThpMode::absent;
  const std::string chosen = text.substr(open + 1, close - open - 1);
  if (chosen == "always") return ThpMode::always;
  if (chosen == "madvise") return ThpMode::madvise;
  if (chosen == "never") return ThpMode::never;
  return ThpMode::absent;
}

ThpMode thp_mode() {
  // Without iostreams (see migrate/engine.cpp, node_total_bytes).
  int err = 0;
  const auto text = read_file("/sys/kernel/mm/transparent_hugepage/enabled", err);
  return text ? parse_thp_mode(*text) : ThpMode::absent;
}

const char *thp_mode_name(ThpMode m) noexcept {
  switch (m) {
    case ThpMode::always: return "always";
    case ThpMode::madvise: return "madvise";
    case ThpMode::never: return "never";
    case ThpMode::absent: break;
  }
  return "absent";
}

}  // namespace tiermem::platform

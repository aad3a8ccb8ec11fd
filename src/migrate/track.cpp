#include "migrate/track.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>

namespace tiermem::migrate {
namespace {
constexpr std::size_t kPage = 4096;
constexpr std::uint64_t kSoftDirty = 1ULL << 55;
}  // namespace

int WriteTracker::open() noexcept {
  pagemap_ = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
  if (pagemap_ < 0) return -errno;
  clear_refs_ = ::open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
  if (clear_refs_ < 0) {
    const int err = errno;
    ::close(pagemap_);
    pagemap_ = -1;
    return -err;
  }
  return 0;
}

WriteTracker::~WriteTracker() {
  if (pagemap_ >= 0) ::close(pagemap_);
  if (clear_refs_ >= 0) ::close(clear_refs_);
}

int WriteTracker::clear() noexcept {
  if (clear_refs_ < 0) return -EBADF;
  return ::pwrite(clear_refs_, "4", 1, 0) == 1 ? 0 : -errno;
}

int WriteTracker::written(const void *addr, std::size_t len, std::size_t unit,
                          std::vector<std::uint32_t> &counts) {
  if (pagemap_ < 0) return -EBADF;
  if (unit < kPage || unit % kPage != 0 || len % unit != 0) return -EINVAL;
  const std::size_t pages = len / kPage;
  entries_.resize(pages);
  const off_t at = static_cast<off_t>(reinterpret_cast<std::uintptr_t>(addr) / kPage * 8);
  std::size_t done = 0;
  while (done < pages) {
    const ssize_t n = ::pread(pagemap_, entries_.data() + done, (pages - done) * 8,
                              at + static_cast<off_t>(done * 8));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n < 0 ? -errno : -EIO;
    done += static_cast<std::size_t>(n) / 8;
  }
  const std::size_t per = unit / kPage;
  counts.assign(len / unit, 0);
  for (std::size_t i = 0; i < pages; ++i) counts[i / per] += (entries_[i] & kSoftDirty) != 0;
  return 0;
}

bool WriteTracker::probe() noexcept {
  void *p = ::mmap(nullptr, kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return false;
  *static_cast<volatile char *>(p) = 1;
  bool seen = false;
  if (clear() == 0) {
    *static_cast<volatile char *>(p) = 2;
    std::vector<std::uint32_t> c;
    seen = written(p, kPage, kPage, c) == 0 && c[0] == 1;
  }
  ::munmap(p, kPage);
  return seen;
}

}  // namespace tiermem::migrate

#include "backend/shared_mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstring>

// The snapshot stands in for the kernel's copy-on-write at fork: it reads the tier while other
// threads may be writing it, exactly as fork() itself does (platform/tsan.hpp).
#include "platform/text.hpp"
#include "platform/tsan.hpp"

namespace tiermem::backend {
namespace {

// Runs in fork handlers: no allocation, no stdio.
void say_failed(const char *what, int err) noexcept {
  char buf[160];
  std::size_t n = 0;
  // Two bytes kept free, as before: one for append_text's NUL, one spare.
  auto put = [&](const char *s) { n = platform::append_text(buf, sizeof buf - 1, n, s); };
  put("tiermem: fork: ");
  put(what);
  put(": ");
  put(strerrordesc_np(err) != nullptr ? strerrordesc_np(err) : "error");
  put("; the child cannot use that tier's memory\n");
  ssize_t rc = ::write(2, buf, n);
  (void)rc;
}

}  // namespace

void ForkSnapshot::take(const std::string &name, int src_fd, std::byte *base, std::size_t used,
                        std::size_t length, const platform::ByteRange *skip,
                        std::size_t nskip) noexcept {
  (void)name;
  drop();
  error_ = 0;
  if (length == 0) return;
  platform::UniqueFd fd(::memfd_create("tiermem-fork", MFD_CLOEXEC));
  if (!fd) {
    error_ = errno;
    say_failed("memfd_create for the child's copy", error_);
    return;
  }
  if (::ftruncate(fd.get(), static_cast<off_t>(length)) != 0) {
    error_ = errno;
    say_failed("sizing the child's copy", error_);
    return;
  }
  if (used == 0) {  // nothing to copy: the child gets a fresh, empty file
    fd_ = std::move(fd);
    return;
  }
  platform::Mapping dst =
      platform::Mapping::map(nullptr, used, PROT_READ | PROT_WRITE, MAP_SHARED, fd.get());
  if (!dst) {
    error_ = errno;
    say_failed("mapping the child's copy", error_);
    return;
  }
  std::byte *d = dst.bytes();
  TM_COPY_READS_BEGIN();
  if (src_fd >= 0) {
    // Copy only what was written: reading a hole of a shared memfd mapping would allocate it.
    off_t off = 0;
    const off_t end = static_cast<off_t>(used);
    while (off < end) {
      off_t data = ::lseek(src_fd, off, SEEK_DATA);
      if (data < 0 || data >= end) break;
      off_t hole = ::lseek(src_fd, data, SEEK_HOLE);
      if (hole < 0 || hole > end) hole = end;
      std::memcpy(d + data, base + data, static_cast<std::size_t>(hole - data));
      off = hole;
    }
  } else {
    std::size_t off = 0;
    for (std::size_t i = 0; i < nskip && off < used; ++i) {
      std::size_t from = skip[i].offset < used ? static_cast<std::size_t>(skip[i].offset) : used;
      if (from > off) std::memcpy(d + off, base + off, from - off);
      std::size_t to = skip[i].end() < used ? static_cast<std::size_t>(skip[i].end()) : used;
      off = to > off ? to : off;
    }
    if (off < used) std::memcpy(d + off, base + off, used - off);
  }
  TM_COPY_READS_END();
  fd_ = std::move(fd);
}

platform::UniqueFd ForkSnapshot::install(std::byte *base, std::size_t length) noexcept {
  if (length == 0) {
    drop();
    return {};
  }
  if (!fd_) {
    // No copy: never let the child write into the parent's shared memory.
    reserve_again(base, length);
    return {};
  }
  // Over the slot, which owns the range: this replaces what is there and is not unmapped here.
  void *p = ::mmap(base, length, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd_.get(), 0);
  if (p == MAP_FAILED) {
    say_failed("mapping the copy in the child", errno);
    reserve_again(base, length);
    drop();
    return {};
  }
  return std::move(fd_);
}

void ForkSnapshot::drop() noexcept { fd_.reset(); }

void reserve_again(std::byte *addr, std::size_t len) noexcept {
  ::mmap(addr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

}  // namespace tiermem::backend

// devdax backend: a device-dax character device (/dev/daxX.Y in devdax mode), locked for this
// process and mapped MAP_SHARED at the start of the tier's slot. The slot start is aligned to
// the slot size, so to any device `align`; the mapped length is the device size rounded down
// to `align`, because the kernel refuses mappings that are not multiples of it.
//
// Known bad blocks (the nd region's badblocks list, safety/badblocks.hpp, read by the caller)
// are mapped like the rest but never handed out: the extent hook steps the bump pointer over
// them before carving, so neither data nor jemalloc's metadata ever lands there (a load would
// be a machine check), and the child's copy at fork() leaves them out.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

#include "backend/backend.hpp"
#include "backend/shared_mapping.hpp"
#include "platform/raii.hpp"
#include "tiermem/error.hpp"

namespace tiermem::backend {
namespace {

class DevdaxBackend final : public Backend {
 public:
  DevdaxBackend(std::string description, std::string path, platform::UniqueFd fd, std::byte *slot,
                std::size_t len, std::size_t align, std::vector<platform::ByteRange> bad)
      : Backend(Kind::devdax, std::move(description), kHooks, slot, len), path_(std::move(path)),
        fd_(std::move(fd)), align_(align), bad_(std::move(bad)) {
    fresh_is_zero_ = false;  // the device keeps what its previous user wrote
  }
  ~DevdaxBackend() override { reserve_again(base(), capacity()); }

  void prepare_fork() noexcept override {
    std::size_t used = used_aligned();
    snapshot_.take(path_, -1, base(), used, used, bad_.data(), bad_.size());
  }
  void parent_after_fork() noexcept override { snapshot_.drop(); }
  int memory_fd() const noexcept override { return fd_.get(); }
  // The device stays with the parent (it holds the lock). The child keeps a private copy of
  // what was allocated so far and cannot grow the tier any more.
  void child_after_fork() noexcept override {
    std::size_t used = used_aligned();
    snapshot_.install(base(), used);  // the mapping keeps the copy; its fd is not needed
    reserve_again(base() + used, capacity() - used);
    fd_.reset();  // the parent's descriptor keeps the lock
    freeze();
  }

 private:
  // The kernel splits a device-dax mapping only at multiples of the device's align
  // (dev_dax_may_split), so the child's copy covers whole align units.
  std::size_t used_aligned() const noexcept {
    std::size_t n = (used() + align_ - 1) / align_ * align_;
    return n < capacity() ? n : capacity();
  }
  // The first bad range overlapping [off, off + size), or null.
  const platform::ByteRange *bad_overlap(std::size_t off, std::size_t size) const noexcept {
    for (const auto &r : bad_)
      if (r.offset < off + size && off < r.end()) return &r;
    return nullptr;
  }

  // hook_alloc, never returning memory that holds a known bad block. Before carving, a bad
  // range in the way is stepped over by carving a filler up to its end (the good bytes before
  // it are given up: at most one extent's worth per bad range). A carve that still overlaps
  // (another thread moved the bump pointer meanwhile) is dropped and tried again.
  static void *hook_alloc_good(extent_hooks_t *h, void *new_addr, std::size_t size,
                               std::size_t alignment, bool *zero, bool *commit, unsigned arena) {
    auto *b = static_cast<DevdaxBackend *>(self(h));
    if (b->bad_.empty()) return hook_alloc(h, new_addr, size, alignment, zero, commit, arena);
    const std::size_t align = alignment == 0 || (alignment & (alignment - 1)) != 0 ? 4096 : alignment;
    for (;;) {
      const std::size_t cur = b->used();
      const std::size_t start = (cur + align - 1) / align * align;  // base() is slot-aligned
      if (const platform::ByteRange *r = b->bad_overlap(start, size)) {
        if (new_addr != nullptr) return nullptr;  // growing in place would cover it
        const std::size_t past = (r->end() + 4095) / 4096 * 4096;
        if (b->carve(nullptr, past - cur, 4096) == nullptr) return nullptr;  // full
        continue;
      }
      void *p = b->carve(new_addr, size, alignment);
      if (p == nullptr) return nullptr;
      if (b->bad_overlap(static_cast<std::size_t>(static_cast<std::byte *>(p) - b->base()), size)) {
        if (new_addr != nullptr) return nullptr;
        continue;
      }
      if (*zero) std::memset(p, 0, size);  // device memory keeps what the previous user wrote
      *commit = true;
      return p;
    }
  }

  static constexpr extent_hooks_t kHooks{hook_alloc_good, hook_dalloc,   hook_destroy,
                                         hook_commit,   hook_decommit, hook_no_purge,
                                         hook_no_purge, hook_split,    hook_merge};
  std::string path_;
  platform::UniqueFd fd_;
  std::size_t align_;
  std::vector<platform::ByteRange> bad_;  // sorted device offsets, inside [0, capacity)
  ForkSnapshot snapshot_;
};

std::string human(std::uint64_t n) {
  if (n >= (1ULL << 30) && n % (1ULL << 30) == 0) return std::to_string(n >> 30) + " GiB";
  if (n >= (1ULL << 20) && n % (1ULL << 20) == 0) return std::to_string(n >> 20) + " MiB";
  if (n >= (1ULL << 10) && n % (1ULL << 10) == 0) return std::to_string(n >> 10) + " KiB";
  return std::to_string(n) + " bytes";
}

}  // namespace

std::unique_ptr<Backend> make_devdax(const std::string &path, std::uint64_t size,
                                     std::uint64_t align, std::byte *slot, std::size_t slot_size,
                                     std::vector<platform::ByteRange> bad) {
  if (align == 0) align = 2ULL << 20;  // the kernel's default when sysfs does not say
  if ((align & (align - 1)) != 0 || align > slot_size) {
    throw Error(-EINVAL, "tiermem: " + path + ": align " + std::to_string(align) +
                             " is not a power of two tiermem can honour; check `daxctl list`");
  }
  std::uint64_t len = (size < slot_size ? size : slot_size) / align * align;
  if (len == 0) {
    throw Error(-EINVAL, "tiermem: " + path + ": size " + std::to_string(size) +
                             " is smaller than its align " + human(align) +
                             "; recreate the device with `daxctl create-device`");
  }
  platform::UniqueFd fd(::open(path.c_str(), O_RDWR | O_CLOEXEC));
  if (!fd) {
    int err = errno;
    if (err == ENOENT || err == ENXIO || err == ENODEV) {
      throw Error(-ENODEV, "tiermem: " + path + " is gone (" + std::strerror(err) +
                               "); was it reconfigured or destroyed? check `daxctl list`");
    }
    throw Error(-err, "tiermem: cannot open " + path + ": " + std::strerror(err) +
                          (err == EACCES ? "; add yourself to its group or run as root" : ""));
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || !S_ISCHR(st.st_mode)) {
    throw Error(-ENODEV, "tiermem: " + path + " is not a character device; is it in devdax mode?");
  }
  lock_exclusive(fd.get(), path);
  // Over the slot, which owns the range (the destructor reserves it again).
  if (::mmap(slot, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd.get(), 0) == MAP_FAILED) {
    int err = errno;
    reserve_again(slot, len);
    if (err == EINVAL) {
      throw Error(-EINVAL, "tiermem: " + path + ": the kernel refused a " + human(len) +
                               " mapping aligned to " + human(align) +
                               "; the device's align in sysfs may be wrong, check `daxctl list`");
    }
    throw Error(err == ENXIO || err == ENODEV ? -ENODEV : -err,
                "tiermem: cannot map " + path + ": " + std::strerror(err));
  }
  std::string desc = path + " (devdax, " + human(len) + ", align " + human(align) + ")";
  std::vector<platform::ByteRange> inside;
  std::uint64_t bad_bytes = 0;
  for (const auto &r : platform::merge_ranges(std::move(bad))) {
    if (r.offset >= len) continue;
    inside.push_back({r.offset, std::min<std::uint64_t>(r.length, len - r.offset)});
    bad_bytes += inside.back().length;
  }
  if (!inside.empty()) {
    desc += ", " + std::to_string(inside.size()) + " known bad range" + (inside.size() == 1 ? "" : "s") +
            " excluded";
    std::fprintf(stderr,
                 "tiermem: %s: %zu known bad range%s (%llu bytes) excluded from allocation; "
                 "`tiermem badblocks` lists them\n",
                 path.c_str(), inside.size(), inside.size() == 1 ? "" : "s",
                 static_cast<unsigned long long>(bad_bytes));
  }
  return std::make_unique<DevdaxBackend>(std::move(desc), path, std::move(fd), slot, len, align, std::move(inside));
}

}  // namespace tiermem::backend

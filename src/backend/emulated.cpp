// emulated backend: a memfd of the tier's size mapped at the slot start. It stands in for a
// slower tier on machines without one (TIERMEM_EMULATE): its capacity is real (allocations
// fail with ENOMEM when it is full) and its pages are distinct from the program's heap.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "backend/backend.hpp"
#include "backend/shared_mapping.hpp"
#include "platform/raii.hpp"
#include "platform/text.hpp"
#include "tiermem/error.hpp"

namespace tiermem::backend {
namespace {

class EmulatedBackend final : public Backend {
 public:
  EmulatedBackend(std::string name, platform::UniqueFd fd, std::byte *slot, std::size_t size)
      : Backend(Kind::emulated, "emulated '" + name + "' (memfd, " + std::to_string(size) +
                                    " bytes)",
                kHooks, slot, size),
        name_(std::move(name)), fd_(std::move(fd)) {}
  ~EmulatedBackend() override { reserve_again(base(), capacity()); }

  void prepare_fork() noexcept override {
    // A migrating tier's units may be anonymous memory now, written where the memfd has a
    // hole: copy every used byte from its address (see Backend::set_migrating).
    snapshot_.take(name_, migrating() ? -1 : fd_.get(), base(), used(), capacity());
  }
  int memory_fd() const noexcept override { return fd_.get(); }
  void parent_after_fork() noexcept override { snapshot_.drop(); }
  void child_after_fork() noexcept override {
    if (platform::UniqueFd fd = snapshot_.install(base(), capacity())) fd_ = std::move(fd);
  }

 private:
  // Purging gives the memfd's pages back (a hole reads as zero afterwards).
  static bool purge(extent_hooks_t *h, void *addr, std::size_t, std::size_t offset,
                    std::size_t length, unsigned) {
    auto *b = static_cast<EmulatedBackend *>(self(h));
    if (b->migrating()) return true;  // not purged: see Backend::set_migrating
    off_t at = static_cast<std::byte *>(addr) + offset - b->base();
    return ::fallocate(b->fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, at,
                       static_cast<off_t>(length)) != 0;
  }
  static constexpr extent_hooks_t kHooks{hook_alloc, hook_dalloc, hook_destroy,
                                         hook_commit, hook_decommit, hook_no_purge,
                                         purge,       hook_split,    hook_merge};
  std::string name_;
  platform::UniqueFd fd_;
  ForkSnapshot snapshot_;
};

}  // namespace

std::unique_ptr<Backend> make_emulated(const std::string &name, std::uint64_t size,
                                       std::byte *slot, std::size_t slot_size) {
  if (size == 0 || size > slot_size) {
    // The slot is smaller than TIERMEM_EMULATE's cap only where address space is short.
    throw Error(-EINVAL, "tiermem: emulated tier '" + name + "': size " +
                             platform::size_text(size) + " must be between 1 byte and " +
                             platform::size_text(slot_size) +
                             " (the heap's slot); ask for less or raise `ulimit -v`");
  }
  std::size_t len = (size + 4095) & ~std::size_t{4095};
  platform::UniqueFd fd(::memfd_create(("tiermem-" + name).c_str(), MFD_CLOEXEC));
  if (!fd) {
    int err = errno;
    throw Error(-err, "tiermem: emulated tier '" + name + "': memfd_create: " + std::strerror(err));
  }
  // Over the slot, which owns the range (the destructor reserves it again).
  if (::ftruncate(fd.get(), static_cast<off_t>(len)) != 0 ||
      ::mmap(slot, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd.get(), 0) == MAP_FAILED) {
    int err = errno;
    reserve_again(slot, len);
    throw Error(-err, "tiermem: emulated tier '" + name + "': cannot map " + std::to_string(len) +
                          " bytes: " + std::strerror(err));
  }
  return std::make_unique<EmulatedBackend>(name, std::move(fd), slot, len);
}

}  // namespace tiermem::backend

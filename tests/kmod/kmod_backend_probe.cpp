// Whether the heap's devdax backend (src/backend/devdax.cpp) works unchanged on a
// tiermem_dax device: it maps DEV through backend::make_devdax() the way the heap does
// (exclusive flock, MAP_SHARED | MAP_FIXED into an aligned slot) and checks that the first
// BYTES hold the pattern `kmod_probe write DEV BYTES SEED` left there.
//
//   kmod_backend_probe DEV SIZE ALIGN BYTES SEED
#include <sys/mman.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>

#include "backend/backend.hpp"

int main(int argc, char **argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: kmod_backend_probe DEV SIZE ALIGN BYTES SEED\n");
    return 2;
  }
  const std::uint64_t size = std::strtoull(argv[2], nullptr, 0);
  const std::uint64_t align = std::strtoull(argv[3], nullptr, 0);
  const std::uint64_t bytes = std::strtoull(argv[4], nullptr, 0);
  const std::uint64_t seed = std::strtoull(argv[5], nullptr, 0);
  // The heap's slots are aligned reservations; make one the same way.
  void *raw = ::mmap(nullptr, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                     -1, 0);
  if (raw == MAP_FAILED) {
    std::perror("kmod_backend_probe: reserving the slot");
    return 1;
  }
  auto *slot = reinterpret_cast<std::byte *>(
      (reinterpret_cast<std::uintptr_t>(raw) + align - 1) / align * align);
  try {
    auto b = tiermem::backend::make_devdax(argv[1], size, align, slot, size);
    std::printf("%s\n", b->description().c_str());
    const auto *p = reinterpret_cast<const volatile std::uint64_t *>(b->base());
    for (std::uint64_t i = 0; i < bytes / 8; i++) {
      if (p[i] != (seed ^ (i * 0x9e3779b97f4a7c15ULL))) {
        std::fprintf(stderr, "kmod_backend_probe: word %llu differs through the backend\n",
                     static_cast<unsigned long long>(i));
        return 1;
      }
    }
    std::printf("the devdax backend maps %s and reads back %llu bytes of the pattern\n", argv[1],
                static_cast<unsigned long long>(bytes));
  } catch (const std::exception &e) {
    std::fprintf(stderr, "kmod_backend_probe: %s\n", e.what());
    return 1;
  }
  return 0;
}

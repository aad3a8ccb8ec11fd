// For the VM scenario tests/vm/scenarios/online.sh: fills the devdax tier of DEVICE
// (/dev/daxX.Y, devdax mode) through the public heap API until it is full, writing every
// block, and checks that no block covers the known bad range [OFFSET, OFFSET + LENGTH) of the
// device. Usage: tm_devdax_bad_probe DEVICE OFFSET LENGTH. Exit 0: none did; 1: one did.
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "tiermem/tiermem.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s DEVICE OFFSET LENGTH\n", argv[0]);
    return 2;
  }
  const std::string dev = argv[1];
  const std::uint64_t bad = std::strtoull(argv[2], nullptr, 0);
  const std::uint64_t bad_len = std::strtoull(argv[3], nullptr, 0);
  const std::string spec = "dax:" + dev.substr(dev.rfind('/') + 1);
  tm_tier *tier = tm_tier_find(spec.c_str());
  if (tier == nullptr) {
    std::printf("FAIL: tm_tier_find(%s): %s\n", spec.c_str(), tm_last_error());
    return 1;
  }
  void *first = tm_malloc(tier, 4096);
  if (first == nullptr) {
    std::printf("FAIL: tm_malloc on %s: %s\n", spec.c_str(), tm_last_error());
    return 1;
  }
  // The device is mapped at the start of the tier's slot: the lowest mapping of DEVICE.
  std::uintptr_t base = UINTPTR_MAX;
  if (std::FILE *maps = std::fopen("/proc/self/maps", "r")) {
    char line[512];
    while (std::fgets(line, sizeof line, maps)) {
      if (std::strstr(line, dev.c_str()) == nullptr) continue;
      std::uintptr_t lo = std::strtoull(line, nullptr, 16);
      if (lo < base) base = lo;
    }
    std::fclose(maps);
  }
  if (base == UINTPTR_MAX) {
    std::printf("FAIL: %s is not mapped in this process\n", dev.c_str());
    return 1;
  }
  const std::size_t sizes[] = {4096, 64 << 10, 1 << 20, 3 << 20, 24 << 10};
  std::uint64_t total = 0, blocks = 0, overlaps = 0;
  for (unsigned i = 0;; ++i) {
    const std::size_t n = sizes[i % 5];
    void *p = tm_malloc(tier, n);
    if (p == nullptr) break;
    const std::uint64_t off = reinterpret_cast<std::uintptr_t>(p) - base;
    if (off < bad + bad_len && bad < off + n) {
      std::printf("FAIL: block of %zu bytes at device offset %#" PRIx64 " covers the bad range\n", n, off);
      ++overlaps;
    }
    std::memset(p, 0x5a, n);
    total += n;
    ++blocks;
  }
  std::printf("%s: %" PRIu64 " blocks, %" PRIu64 " bytes allocated and written until full; %" PRIu64
              " cover the bad range %#" PRIx64 "+%" PRIu64 "\n",
              spec.c_str(), blocks, total, overlaps, bad, bad_len);
  return overlaps == 0 && total > bad + bad_len ? 0 : 1;
}

// A buffer pool with 1 MiB of frames on the fastest tier and 4 MiB on a slow one, over a
// "disk" of 2048 pages of 8 KiB (16 MiB): a skewed workload, 90% reads through read() and 10%
// updates through a pin, then the counters.
//   TIERMEM_EMULATE=slow:1G ./example_bufferpool
#include <cstdio>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "tiermem/bufferpool.hpp"

int main() {
  constexpr std::size_t kPage = 8192, kPages = 2048;
  std::vector<std::vector<std::byte>> disk(kPages, std::vector<std::byte>(kPage));
  for (std::size_t i = 0; i < kPages; ++i) std::memcpy(disk[i].data(), &i, sizeof i);

  tiermem::BufferPool::Options o;
  o.page_size = kPage;
  o.tiers = {{"rank:0", 1u << 20}, {"emulated:slow", 4u << 20}};
  o.read = [&](std::uint64_t id, std::span<std::byte> page) {
    std::memcpy(page.data(), disk[id].data(), kPage);
    return 0;
  };
  o.write = [&](std::uint64_t id, std::span<const std::byte> page) {
    std::memcpy(disk[id].data(), page.data(), kPage);
    return 0;
  };
  try {
    tiermem::BufferPool pool(std::move(o));
    std::mt19937_64 rng(42);
    std::geometric_distribution<std::size_t> skew(0.005);  // about 200 hot pages
    std::size_t wrong = 0;
    for (int op = 0; op < 200000; ++op) {
      std::size_t id = skew(rng) % kPages;
      if (op % 10 == 0) {  // an update: pin the page, write it in place, mark it dirty
        tiermem::BufferPool::Pin p = pool.pin(id);
        p.data()[100] = static_cast<std::byte>(op);
        p.mark_dirty();
      } else {  // a read: copy the bytes out, no pin (machine-check safe)
        std::size_t stored;
        pool.read(id, 0, std::as_writable_bytes(std::span(&stored, 1)));
        wrong += stored != id;
      }
    }
    pool.flush();
    auto s = pool.stats();
    for (auto &t : s.tiers)
      std::printf("%-16s frames=%zu used=%zu hits=%llu\n", t.name.c_str(), t.frames, t.used,
                  static_cast<unsigned long long>(t.hits));
    std::printf("misses=%llu promotions=%llu demotions=%llu evictions=%llu writebacks=%llu\n",
                static_cast<unsigned long long>(s.misses),
                static_cast<unsigned long long>(s.promotions),
                static_cast<unsigned long long>(s.demotions),
                static_cast<unsigned long long>(s.evictions),
                static_cast<unsigned long long>(s.writebacks));
    if (wrong != 0) {
      std::printf("%zu pages held the wrong content\n", wrong);
      return 1;
    }
  } catch (const tiermem::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 1;
  }
  return 0;
}

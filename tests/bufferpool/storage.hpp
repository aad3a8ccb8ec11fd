// The storage under the buffer pool in tests: a vector of pages, each self-describing
// (page id and version in the first bytes, the rest derived from both), so that any page
// read back can be checked on its own.
#pragma once
#include <atomic>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <span>
#include <vector>

#include "tiermem/bufferpool.hpp"

namespace tiermem::test {

inline std::byte fill_byte(std::uint64_t id, std::uint64_t version, std::size_t i) {
  return static_cast<std::byte>((id * 131 + version * 17 + i * 7 + (i >> 8)) & 0xff);
}

/** Writes the content of (id, version) into `page`. */
inline void make_page(std::span<std::byte> page, std::uint64_t id, std::uint64_t version) {
  std::memcpy(page.data(), &id, 8);
  std::memcpy(page.data() + 8, &version, 8);
  for (std::size_t i = 16; i < page.size(); ++i) page[i] = fill_byte(id, version, i);
}

/** The version a page holds, or -1 when its bytes are not a whole (id, version) page. */
inline std::int64_t page_version(std::span<const std::byte> page, std::uint64_t id) {
  std::uint64_t got_id, version;
  std::memcpy(&got_id, page.data(), 8);
  std::memcpy(&version, page.data() + 8, 8);
  if (got_id != id) return -1;
  for (std::size_t i = 16; i < page.size(); ++i)
    if (page[i] != fill_byte(id, version, i)) return -1;
  return static_cast<std::int64_t>(version);
}

struct Storage {
  std::size_t page_size;
  std::vector<std::vector<std::byte>> pages;
  std::mutex mu;
  std::atomic<int> reads{0}, writes{0};
  std::atomic<int> fail_read{0}, fail_write{0};  // non-zero: the code the callbacks return

  Storage(std::size_t npages, std::size_t ps) : page_size(ps), pages(npages) {
    for (std::size_t i = 0; i < npages; ++i) {
      pages[i].resize(ps);
      make_page(pages[i], i, 0);
    }
  }

  int read(std::uint64_t id, std::span<std::byte> out) {
    if (int rc = fail_read.load()) return rc;
    if (id >= pages.size()) return -ENOENT;
    std::lock_guard g(mu);
    std::memcpy(out.data(), pages[id].data(), page_size);
    ++reads;
    return 0;
  }
  int write(std::uint64_t id, std::span<const std::byte> in) {
    if (int rc = fail_write.load()) return rc;
    std::lock_guard g(mu);
    std::memcpy(pages[id].data(), in.data(), page_size);
    ++writes;
    return 0;
  }

  BufferPool::Options options(std::size_t fast_pages, std::size_t slow_pages) {
    BufferPool::Options o;
    o.page_size = page_size;
    o.tiers.push_back({"emulated:fast", fast_pages * page_size});
    if (slow_pages != 0) o.tiers.push_back({"emulated:slow", slow_pages * page_size});
    o.read = [this](std::uint64_t id, std::span<std::byte> p) { return read(id, p); };
    o.write = [this](std::uint64_t id, std::span<const std::byte> p) { return write(id, p); };
    return o;
  }
};

}  // namespace tiermem::test

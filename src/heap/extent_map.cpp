#include "heap/extent_map.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "tiermem/error.hpp"

namespace tiermem::heap {

namespace {

constexpr unsigned kPageShift = 12;
constexpr std::size_t kWordBits = 64;

// Set by the api layer; see set_purge_observer().
std::atomic<PurgeObserver> g_purge_observer{nullptr};

}  // namespace

platform::Mapping map_table(const std::string &what, std::size_t bytes) {
  platform::Mapping m = platform::Mapping::map(nullptr, bytes, PROT_READ | PROT_WRITE,
                                               MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE);
  if (!m) {
    int err = errno;
    throw Error(-err, "tiermem: cannot map " + what + " (" + std::to_string(bytes) +
                          " bytes): " + std::strerror(err) + "; check `ulimit -v`");
  }
  return m;
}

void set_purge_observer(PurgeObserver fn) noexcept {
  g_purge_observer.store(fn, std::memory_order_release);
}

ExtentMap::ExtentMap(std::byte *base, std::size_t span, backend::extent_hooks_t *inner)
    : base_(reinterpret_cast<std::uintptr_t>(base)), pages_(span >> kPageShift) {
  std::size_t words = (pages_ + kWordBits - 1) / kWordBits;
  const std::size_t bytes = words * sizeof(std::uint64_t);
  bits_map_ = map_table("the heap's extent map", bytes);
  // Zero pages: zero-initialised atomics.
  bits_ = static_cast<std::atomic<std::uint64_t> *>(bits_map_.addr());
  wrap_.hooks = {alloc, dalloc, destroy, commit, decommit, purge_lazy, purge_forced, split, merge};
  wrap_.inner = inner;
  wrap_.self = this;
}


void ExtentMap::mark(std::uintptr_t addr, bool on) noexcept {
  std::size_t page = (addr - base_) >> kPageShift;
  if (page >= pages_) return;
  std::uint64_t m = std::uint64_t{1} << (page % kWordBits);
  if (on) {
    bits_[page / kWordBits].fetch_or(m, std::memory_order_release);
  } else {
    bits_[page / kWordBits].fetch_and(~m, std::memory_order_release);
  }
}

bool ExtentMap::find(std::uintptr_t addr, std::uintptr_t *start,
                     std::uintptr_t *end) const noexcept {
  std::uintptr_t top = top_.load(std::memory_order_acquire);
  if (addr < base_ || addr >= top) return false;
  std::size_t page = (addr - base_) >> kPageShift;
  // Backwards to the nearest start at or below `page`.
  std::size_t w = page / kWordBits;
  std::uint64_t word = bits_[w].load(std::memory_order_acquire);
  unsigned bit = page % kWordBits;
  word &= bit == 63 ? ~std::uint64_t{0} : (std::uint64_t{1} << (bit + 1)) - 1;
  while (word == 0) {
    if (w == 0) return false;
    word = bits_[--w].load(std::memory_order_acquire);
  }
  std::size_t first = w * kWordBits + (63 - static_cast<unsigned>(__builtin_clzll(word)));
  // Forwards to the next start above `page`, or the top of what was handed out.
  std::size_t top_page = (top - base_) >> kPageShift;
  std::size_t next = top_page;
  w = (page + 1) / kWordBits;
  if (page + 1 < top_page) {
    word = bits_[w].load(std::memory_order_acquire);
    bit = (page + 1) % kWordBits;
    word &= ~((std::uint64_t{1} << bit) - 1);
    std::size_t last_w = (top_page - 1) / kWordBits;
    while (word == 0 && w < last_w) word = bits_[++w].load(std::memory_order_acquire);
    if (word != 0) {
      std::size_t found = w * kWordBits + static_cast<unsigned>(__builtin_ctzll(word));
      if (found < next) next = found;
    }
  }
  *start = base_ + (first << kPageShift);
  *end = base_ + (next << kPageShift);
  return true;
}

// Runs under jemalloc's base mutex: mmap only, no allocation. A full table fails the
// request (jemalloc reports out of memory) rather than putting metadata on the tier.
void *ExtentMap::map_meta(std::size_t size) noexcept {
  std::size_t i = meta_count_.load(std::memory_order_relaxed);
  if (i >= kMaxMeta) return nullptr;
  platform::Mapping m = platform::Mapping::map(nullptr, size + kMetaAlign, PROT_READ | PROT_WRITE,
                                               MAP_PRIVATE | MAP_ANONYMOUS);
  if (!m) return nullptr;
  auto [raw, len] = m.release();
  auto a = reinterpret_cast<std::uintptr_t>(raw);
  std::uintptr_t start = (a + kMetaAlign - 1) & ~(kMetaAlign - 1);
  if (start > a) munmap(raw, start - a);
  if (start + size < a + len) munmap(reinterpret_cast<void *>(start + size), a + len - start - size);
  meta_[i] = platform::Mapping(reinterpret_cast<void *>(start), size);
  meta_bytes_.fetch_add(size, std::memory_order_relaxed);
  meta_count_.store(i + 1, std::memory_order_release);
  return reinterpret_cast<void *>(start);
}

void *ExtentMap::alloc(backend::extent_hooks_t *h, void *new_addr, std::size_t size,
                       std::size_t alignment, bool *zero, bool *commit, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  if (new_addr == nullptr && alignment == kMetaAlign && size % kMetaAlign == 0) {
    void *p = self(h)->map_meta(size);
    if (p != nullptr) {
      *zero = true;  // fresh anonymous pages
      *commit = true;
    }
    return p;
  }
  void *p = in->alloc(in, new_addr, size, alignment, zero, commit, ind);
  if (p != nullptr) {
    ExtentMap *m = self(h);
    auto a = reinterpret_cast<std::uintptr_t>(p);
    m->mark(a, true);
    m->mark(a + size, true);  // the next extent starts at or after here
    std::uintptr_t top = m->top_.load(std::memory_order_relaxed);
    while (a + size > top &&
           !m->top_.compare_exchange_weak(top, a + size, std::memory_order_release)) {
    }
  }
  return p;
}

bool ExtentMap::dalloc(backend::extent_hooks_t *h, void *addr, std::size_t size, bool committed,
                       unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  return in->dalloc(in, addr, size, committed, ind);
}

void ExtentMap::destroy(backend::extent_hooks_t *h, void *addr, std::size_t size, bool committed,
                        unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  in->destroy(in, addr, size, committed, ind);
}

bool ExtentMap::commit(backend::extent_hooks_t *h, void *addr, std::size_t size,
                       std::size_t offset, std::size_t length, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  return in->commit(in, addr, size, offset, length, ind);
}

bool ExtentMap::decommit(backend::extent_hooks_t *h, void *addr, std::size_t size,
                         std::size_t offset, std::size_t length, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  return in->decommit(in, addr, size, offset, length, ind);
}

bool ExtentMap::purge_lazy(backend::extent_hooks_t *h, void *addr, std::size_t size,
                           std::size_t offset, std::size_t length, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  return in->purge_lazy(in, addr, size, offset, length, ind);
}

// A forced purge gives the pages back (MADV_DONTNEED, a punched hole): the next touch gets a
// fresh page, so poison recorded there no longer exists.
bool ExtentMap::purge_forced(backend::extent_hooks_t *h, void *addr, std::size_t size,
                             std::size_t offset, std::size_t length, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  bool failed = in->purge_forced(in, addr, size, offset, length, ind);
  if (!failed) {
    if (PurgeObserver fn = g_purge_observer.load(std::memory_order_acquire)) {
      fn(static_cast<std::byte *>(addr) + offset, length);
    }
  }
  return failed;
}

bool ExtentMap::split(backend::extent_hooks_t *h, void *addr, std::size_t size,
                      std::size_t size_a, std::size_t size_b, bool committed, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  bool failed = in->split(in, addr, size, size_a, size_b, committed, ind);
  if (!failed) self(h)->mark(reinterpret_cast<std::uintptr_t>(addr) + size_a, true);
  return failed;
}

bool ExtentMap::merge(backend::extent_hooks_t *h, void *addr_a, std::size_t size_a, void *addr_b,
                      std::size_t size_b, bool committed, unsigned ind) {
  backend::extent_hooks_t *in = inner(h);
  bool failed = in->merge(in, addr_a, size_a, addr_b, size_b, committed, ind);
  if (!failed) self(h)->mark(reinterpret_cast<std::uintptr_t>(addr_b), false);
  return failed;
}

}  // namespace tiermem::heap

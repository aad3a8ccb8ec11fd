#include "heap/publish.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include "platform/process.hpp"
#include "topology/hwloc_cache.hpp"

namespace tiermem::heap {

namespace published {
std::string file_name(long pid) { return "heap-" + std::to_string(pid) + ".stats"; }
}  // namespace published

namespace {

using published::Page;

std::atomic<Page *> g_page{nullptr};
// The directory, made once at open; a fork child names its own file from it without
// allocating (the fork handlers run before jemalloc's have made malloc safe again).
char g_dir[256] = "";
char g_path[300] = "";

// g_dir + "/heap-" + pid + ".stats" into g_path, without snprintf (async-signal-safe).
void make_path(long pid) noexcept {
  char *p = g_path;
  for (const char *s = g_dir; *s != '\0'; ++s) *p++ = *s;
  for (const char *s = "/heap-"; *s != '\0'; ++s) *p++ = *s;
  char digits[24];
  int n = 0;
  for (long v = pid; v > 0 && n < 20; v /= 10) digits[n++] = static_cast<char>('0' + v % 10);
  while (n > 0) *p++ = digits[--n];
  for (const char *s = ".stats"; *s != '\0'; ++s) *p++ = *s;
  *p = '\0';
}

// A fresh page at g_path for this process; nullptr when it cannot be made (then nothing is
// published, which a reader reports as such).
Page *create_page() noexcept {
  const long pid = ::getpid();
  make_path(pid);
  ::unlink(g_path);  // a file left by an earlier process of this pid
  int fd = ::open(g_path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return nullptr;
  void *m = MAP_FAILED;
  if (::ftruncate(fd, sizeof(Page)) == 0)
    m = ::mmap(nullptr, sizeof(Page), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) {
    ::unlink(g_path);
    return nullptr;
  }
  auto *page = static_cast<Page *>(m);  // zero-filled by ftruncate
  std::memcpy(page->magic, published::kMagic, sizeof page->magic);
  page->version = published::kVersion;
  page->size = sizeof(Page);
  page->pid = pid;
  page->start_time = platform::start_time(0);
  return page;
}

void remove_at_exit() {
  if (g_page.exchange(nullptr) != nullptr) ::unlink(g_path);
}

}  // namespace

void publish_open() noexcept {
  static bool done = false;
  if (done) return;
  done = true;
  try {
    auto dir = topology::runtime_dir();
    if (!dir || dir->size() >= sizeof g_dir) return;
    std::memcpy(g_dir, dir->c_str(), dir->size() + 1);
  } catch (...) {
    return;  // no statistics published: the heap itself is not concerned
  }
  if (Page *page = create_page()) {
    g_page.store(page, std::memory_order_release);
    std::atexit(remove_at_exit);
  }
}

void publish_tier(unsigned slot, const std::string &name, const std::string &kind, int rank,
                  std::uint64_t capacity) noexcept {
  Page *page = g_page.load(std::memory_order_acquire);
  if (page == nullptr || slot >= kMaxSlots) return;
  auto &r = page->tier[slot];
  std::strncpy(r.name, name.c_str(), sizeof r.name - 1);
  std::strncpy(r.kind, kind.c_str(), sizeof r.kind - 1);
  r.rank = rank;
  r.capacity = capacity;
  if (slot + 1 > page->tiers.load(std::memory_order_relaxed))
    page->tiers.store(slot + 1, std::memory_order_release);
}

void publish_counters(unsigned slot, const PublishedCounters &c) noexcept {
  Page *page = g_page.load(std::memory_order_relaxed);
  if (page == nullptr || slot >= kMaxSlots) return;
  auto &r = page->tier[slot];
  r.live.store(c.live, std::memory_order_relaxed);
  r.peak.store(c.peak, std::memory_order_relaxed);
  r.mapped.store(c.mapped, std::memory_order_relaxed);
  r.failures.store(c.failures, std::memory_order_relaxed);
  r.fallbacks.store(c.fallbacks, std::memory_order_relaxed);
}

void publish_after_fork_child() noexcept {
  Page *parent = g_page.load(std::memory_order_relaxed);
  if (parent == nullptr) return;
  Page *page = create_page();
  if (page != nullptr) {
    // The child holds what the parent held at fork: its tiers and counters.
    page->tiers.store(parent->tiers.load(std::memory_order_relaxed), std::memory_order_relaxed);
    std::memcpy(static_cast<void *>(page->tier), parent->tier, sizeof page->tier);
  }
  ::munmap(parent, sizeof(Page));
  g_page.store(page, std::memory_order_release);
}

}  // namespace tiermem::heap

#include "api/published_stats.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

#include "heap/publish.hpp"
#include "platform/process.hpp"
#include "topology/hwloc_cache.hpp"

namespace tiermem::api {

namespace {

// The process maps the file while its heap lives: after an exec (same pid, same start time)
// or once its pid is reused, it does not. By inode, not path: the runtime directory may be
// reached through a symbolic link that maps shows resolved.
bool maps_file(long pid, const std::string &path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return false;
  std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
  std::string line;
  while (std::getline(maps, line)) {
    // address perms offset dev inode path
    std::istringstream f(line);
    std::string addr, perms, offset, dev;
    unsigned long long inode = 0;
    if (f >> addr >> perms >> offset >> dev >> inode && inode == st.st_ino) return true;
  }
  return false;
}

}  // namespace

std::optional<PublishedHeap> read_published_heap(long pid, std::string &why) {
  using heap::published::Page;
  const auto dir = topology::runtime_dir();
  if (!dir) {
    why = "no runtime directory to read (TIERMEM_CACHE_DIR=off, or not the user's own)";
    return std::nullopt;
  }
  const std::string path = *dir + "/" + heap::published::file_name(pid);
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    why = "it publishes no heap statistics (no " + path + ": not under tiermem's heap, or no tier opened yet)";
    return std::nullopt;
  }
  auto page = std::make_unique<Page>();
  in.read(reinterpret_cast<char *>(page.get()), sizeof(Page));
  if (in.gcount() != static_cast<std::streamsize>(sizeof(Page)) ||
      std::memcmp(page->magic, heap::published::kMagic, sizeof page->magic) != 0 ||
      page->version != heap::published::kVersion || page->size != sizeof(Page)) {
    why = path + " is not in this tiermem's layout (another version wrote it); ignored";
    return std::nullopt;
  }
  const std::uint64_t started = platform::start_time(pid);
  if (page->pid != pid || started == 0 || page->start_time != started || !maps_file(pid, path)) {
    // Left by a process that died without exiting (SIGKILL) or that exec'd: not this one's.
    ::unlink(path.c_str());
    why = "it publishes no heap statistics (" + path + " was left by an earlier process; removed)";
    return std::nullopt;
  }
  PublishedHeap h;
  const std::uint32_t n = std::min<std::uint32_t>(page->tiers.load(), heap::kMaxSlots);
  for (std::uint32_t i = 0; i < n; ++i) {
    const auto &r = page->tier[i];
    if (r.name[0] == '\0') continue;  // a slot whose tier failed to open
    PublishedTier t;
    t.name.assign(r.name, strnlen(r.name, sizeof r.name));
    t.kind.assign(r.kind, strnlen(r.kind, sizeof r.kind));
    t.rank = r.rank;
    t.capacity = r.capacity;
    t.live = r.live.load();
    t.peak = r.peak.load();
    t.mapped = r.mapped.load();
    t.failures = r.failures.load();
    t.fallbacks = r.fallbacks.load();
    h.tiers.push_back(std::move(t));
  }
  return h;
}

}  // namespace tiermem::api

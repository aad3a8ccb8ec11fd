// SQLite's page cache (SQLITE_CONFIG_PCACHE2) on tiermem tiers.
//
// SQLite's pcache has no storage callbacks: an unpinned page of a purgeable cache may be
// dropped at any time and SQLite rereads it from the database file, while a non-purgeable
// cache (an in-memory database) must keep every page it was not told to discard. So a cache
// here is a hash table of page slots, recycling its least recently unpinned slot when it
// holds cache_size pages (purgeable caches only). A slot's memory (page + SQLite's extra
// bytes) comes from the fast tier while the process-wide fast budget lasts, then from the
// slow tier. Per-cache mutex: SQLite may use different caches from different threads.
#include <sqlite3.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "tiermem/bufferpool.hpp"
#include "tiermem/tiermem.h"

namespace tiermem::sqlite {

namespace {

struct Config {
  tm_tier *fast = nullptr;
  tm_tier *slow = nullptr;  // may be null: everything on the fast tier
  std::size_t fast_bytes = 0;
};
Config g_config;
std::atomic<std::size_t> g_fast_used{0};
std::atomic<std::uint64_t> g_fast_pages{0}, g_slow_pages{0}, g_fetches{0}, g_hits{0};

struct Slot {
  sqlite3_pcache_page page;  // first member: SQLite hands this address back
  unsigned key = 0;
  bool pinned = false;
  bool on_fast = false;
  Slot *lru_prev = nullptr, *lru_next = nullptr;  // linked while unpinned
};

// The unpinned slots, least recently unpinned first. Intrusive: SQLite unpins a page after
// every use, and a std::list node allocation and free per unpin showed in its profile.
class LruList {
 public:
  LruList() { head_.lru_prev = head_.lru_next = &head_; }
  bool empty() const { return head_.lru_next == &head_; }
  std::size_t size() const { return size_; }
  Slot *front() const { return head_.lru_next; }
  void push_back(Slot *s) {
    s->lru_prev = head_.lru_prev;
    s->lru_next = &head_;
    head_.lru_prev->lru_next = s;
    head_.lru_prev = s;
    ++size_;
  }
  void erase(Slot *s) {
    s->lru_prev->lru_next = s->lru_next;
    s->lru_next->lru_prev = s->lru_prev;
    s->lru_prev = s->lru_next = nullptr;
    --size_;
  }

 private:
  Slot head_;
  std::size_t size_ = 0;
};

struct Cache {
  int page_size, extra_size;
  bool purgeable;
  unsigned max_pages = 100;
  std::mutex mu;
  std::unordered_map<unsigned, std::unique_ptr<Slot>> table;
  LruList unpinned;
  // No key in the table is above this (an upper bound, not exact): SQLite truncates at every
  // transaction end, and walking the whole table each time cost 7% of a point-query run.
  unsigned max_key = 0;

  std::size_t slot_bytes() const { return static_cast<std::size_t>(page_size + extra_size); }

  ~Cache() {
    for (auto &[key, slot] : table) release_memory(*slot);
  }

  void release_memory(Slot &s) {
    tm_free(s.page.pBuf);
    if (s.on_fast) g_fast_used.fetch_sub(slot_bytes(), std::memory_order_relaxed);
  }

  bool allocate_memory(Slot &s) {
    std::size_t n = slot_bytes();
    void *p = nullptr;
    if (g_fast_used.fetch_add(n, std::memory_order_relaxed) + n <= g_config.fast_bytes ||
        g_config.slow == nullptr) {
      p = tm_malloc(g_config.fast, n);
      if (p != nullptr) s.on_fast = true;
    }
    if (p == nullptr) {
      g_fast_used.fetch_sub(n, std::memory_order_relaxed);
      if (g_config.slow != nullptr) p = tm_malloc(g_config.slow, n);
    }
    if (p == nullptr) return false;
    (s.on_fast ? g_fast_pages : g_slow_pages).fetch_add(1, std::memory_order_relaxed);
    s.page.pBuf = p;
    s.page.pExtra = static_cast<char *>(p) + page_size;
    return true;
  }

  // Drops an unpinned slot from the table (and its memory unless `keep`).
  std::unique_ptr<Slot> remove(Slot *s, bool keep) {
    if (!s->pinned) unpinned.erase(s);
    auto it = table.find(s->key);
    std::unique_ptr<Slot> owned = std::move(it->second);
    table.erase(it);
    if (!keep) release_memory(*owned);
    return owned;
  }

  void trim_to(unsigned n) {
    while (table.size() > n && !unpinned.empty()) remove(unpinned.front(), false);
  }
};

Cache *as_cache(sqlite3_pcache *p) { return reinterpret_cast<Cache *>(p); }
Slot *as_slot(sqlite3_pcache_page *p) { return reinterpret_cast<Slot *>(p); }

int x_init(void *) { return SQLITE_OK; }
void x_shutdown(void *) {}

sqlite3_pcache *x_create(int page_size, int extra_size, int purgeable) {
  auto c = std::make_unique<Cache>();
  c->page_size = page_size;
  c->extra_size = extra_size;
  c->purgeable = purgeable != 0;
  return reinterpret_cast<sqlite3_pcache *>(c.release());
}

void x_cachesize(sqlite3_pcache *p, int n) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  c->max_pages = n > 0 ? static_cast<unsigned>(n) : 1;
  if (c->purgeable) c->trim_to(c->max_pages);
}

int x_pagecount(sqlite3_pcache *p) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  return static_cast<int>(c->table.size());
}

sqlite3_pcache_page *x_fetch(sqlite3_pcache *p, unsigned key, int create) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  g_fetches.fetch_add(1, std::memory_order_relaxed);
  auto it = c->table.find(key);
  if (it != c->table.end()) {
    Slot *s = it->second.get();
    if (!s->pinned) {
      c->unpinned.erase(s);
      s->pinned = true;
    }
    g_hits.fetch_add(1, std::memory_order_relaxed);
    return &s->page;
  }
  if (create == 0) return nullptr;
  std::size_t pinned = c->table.size() - c->unpinned.size();
  // createFlag 1: SQLite prefers that we fail over growing when the cache is full of pinned
  // pages (it then spills and asks again with 2).
  if (create == 1 && c->purgeable && pinned >= c->max_pages) return nullptr;
  std::unique_ptr<Slot> slot;
  if (c->purgeable && c->table.size() >= c->max_pages && !c->unpinned.empty())
    slot = c->remove(c->unpinned.front(), true);  // recycle its memory
  else {
    slot = std::make_unique<Slot>();
    if (!c->allocate_memory(*slot)) return nullptr;
  }
  std::memset(slot->page.pExtra, 0, static_cast<std::size_t>(c->extra_size));
  slot->key = key;
  slot->pinned = true;
  Slot *s = slot.get();
  c->table.emplace(key, std::move(slot));
  c->max_key = std::max(c->max_key, key);
  return &s->page;
}

void x_unpin(sqlite3_pcache *p, sqlite3_pcache_page *pg, int discard) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  Slot *s = as_slot(pg);
  s->pinned = false;
  if (discard) {
    s->pinned = true;  // not on the LRU list
    c->remove(s, false);
    return;
  }
  c->unpinned.push_back(s);
  if (c->purgeable) c->trim_to(c->max_pages);
}

void x_rekey(sqlite3_pcache *p, sqlite3_pcache_page *pg, unsigned old_key, unsigned new_key) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  if (auto it = c->table.find(new_key); it != c->table.end()) c->remove(it->second.get(), false);
  auto it = c->table.find(old_key);
  std::unique_ptr<Slot> owned = std::move(it->second);
  c->table.erase(it);
  Slot *s = as_slot(pg);
  s->key = new_key;
  c->table.emplace(new_key, std::move(owned));
  c->max_key = std::max(c->max_key, new_key);
}

void x_truncate(sqlite3_pcache *p, unsigned limit) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  if (c->table.empty() || limit > c->max_key) return;  // nothing at or above the limit
  std::vector<Slot *> doomed;
  for (auto &[key, slot] : c->table)
    if (key >= limit) doomed.push_back(slot.get());
  for (Slot *s : doomed) c->remove(s, false);  // pinned ones are implicitly unpinned
  c->max_key = limit > 0 ? limit - 1 : 0;
}

void x_destroy(sqlite3_pcache *p) { std::unique_ptr<Cache> c(as_cache(p)); }

void x_shrink(sqlite3_pcache *p) {
  Cache *c = as_cache(p);
  std::lock_guard g(c->mu);
  while (!c->unpinned.empty()) c->remove(c->unpinned.front(), false);
}

const sqlite3_pcache_methods2 kMethods = {
    1,       nullptr,    x_init,   x_shutdown, x_create,   x_cachesize, x_pagecount,
    x_fetch, x_unpin,    x_rekey,  x_truncate, x_destroy,  x_shrink};

tm_tier *find_tier(const std::string &spec) {
  tm_tier *t = tm_tier_find(spec.c_str());
  if (t == nullptr) {
    int code = errno ? -errno : -ENOENT;
    throw Error(code, tm_last_error());
  }
  return t;
}

}  // namespace

void install_page_cache(const PageCacheOptions &options) {
  Config c;
  c.fast = find_tier(options.fast);
  if (!options.slow.empty()) c.slow = find_tier(options.slow);
  c.fast_bytes = options.fast_bytes;
  g_config = c;
  int rc = sqlite3_config(SQLITE_CONFIG_PCACHE2, &kMethods);
  if (rc != SQLITE_OK)
    throw Error(rc == SQLITE_MISUSE ? -EBUSY : -EINVAL,
                "tiermem: sqlite page cache: sqlite3_config(SQLITE_CONFIG_PCACHE2) failed (" +
                    std::string(sqlite3_errstr(rc)) +
                    "); call install_page_cache before sqlite3_initialize() and any "
                    "other SQLite call");
}

PageCacheStats page_cache_stats() {
  return {g_fast_pages.load(), g_slow_pages.load(), g_fetches.load(), g_hits.load(),
          g_fast_used.load()};
}

}  // namespace tiermem::sqlite

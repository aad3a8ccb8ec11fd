// The buffer pool's C ABI (include/tiermem/bufferpool.h): a tm_bufferpool is a
// tiermem::BufferPool; api::guard turns every exception into a negative code plus
// tm_last_error(). It lives with the pool, not in src/api/: the api is below the front ends.
#include "tiermem/bufferpool.h"

#include <cerrno>
#include <memory>

#include "api/counters.hpp"
#include "api/error.hpp"
#include "tiermem/bufferpool.hpp"

struct tm_bufferpool {
  std::unique_ptr<tiermem::BufferPool> pool;
};

using tiermem::api::guard;
using tiermem::api::set_last_error;

namespace {

using PoolStats = tiermem::BufferPool::Stats;
// The pool's counters beside the per-level arrays (which tm_bufferpool_stats_get fills itself).
constexpr tiermem::api::Counter<PoolStats, tm_bufferpool_stats> kPoolCounters[] = {
    {"misses", &PoolStats::misses, &tm_bufferpool_stats::misses},
    {"promotions", &PoolStats::promotions, &tm_bufferpool_stats::promotions},
    {"demotions", &PoolStats::demotions, &tm_bufferpool_stats::demotions},
    {"evictions", &PoolStats::evictions, &tm_bufferpool_stats::evictions},
    {"writebacks", &PoolStats::writebacks, &tm_bufferpool_stats::writebacks},
    {"retired", &PoolStats::retired, &tm_bufferpool_stats::retired},
    {"lost", &PoolStats::lost, &tm_bufferpool_stats::lost},
};

}  // namespace

extern "C" {

TM_API int tm_bufferpool_create(const tm_bufferpool_config *c, tm_bufferpool **out) {
  return guard([&] {
    if (c == nullptr || out == nullptr)
      return set_last_error(-EINVAL, "tiermem: tm_bufferpool_create: config and out are required");
    if (c->ntiers == 0 || c->ntiers > TM_BUFFERPOOL_MAX_TIERS || c->tiers == nullptr)
      return set_last_error(-EINVAL, "tiermem: tm_bufferpool_create: give 1 to " +
                                         std::to_string(TM_BUFFERPOOL_MAX_TIERS) + " tiers");
    if (c->read == nullptr)
      return set_last_error(-EINVAL, "tiermem: tm_bufferpool_create: no read callback; the "
                                     "pool needs one to load pages");
    tiermem::BufferPool::Options o;
    o.page_size = c->page_size;
    for (std::size_t i = 0; i < c->ntiers; ++i) {
      if (c->tiers[i].spec == nullptr)
        return set_last_error(-EINVAL, "tiermem: tm_bufferpool_create: tier " +
                                           std::to_string(i) + " has no spec");
      o.tiers.push_back({c->tiers[i].spec, c->tiers[i].capacity});
    }
    auto read = c->read;
    auto write = c->write;
    auto lost = c->lost;
    void *user = c->user;
    o.read = [read, user](uint64_t id, std::span<std::byte> p) {
      return read(id, p.data(), p.size(), user);
    };
    if (write != nullptr)
      o.write = [write, user](uint64_t id, std::span<const std::byte> p) {
        return write(id, p.data(), p.size(), user);
      };
    if (lost != nullptr) o.on_lost = [lost, user](uint64_t id) { lost(id, user); };
    if (c->promote_after != 0) o.promote_after = c->promote_after;
    auto p = std::make_unique<tm_bufferpool>();
    p->pool = std::make_unique<tiermem::BufferPool>(std::move(o));
    *out = p.release();
    return 0;
  });
}

TM_API void tm_bufferpool_destroy(tm_bufferpool *pool) { delete pool; }

TM_API int tm_bufferpool_pin(tm_bufferpool *pool, uint64_t id, void **data) {
  return guard([&] {
    if (pool == nullptr || data == nullptr)
      return set_last_error(-EINVAL, "tiermem: tm_bufferpool_pin: pool and data are required");
    *data = pool->pool->pin_raw(id);
    return 0;
  });
}

TM_API int tm_bufferpool_unpin(tm_bufferpool *pool, uint64_t id, int dirty) {
  return guard([&] {
    if (pool == nullptr) return set_last_error(-EINVAL, "tiermem: tm_bufferpool_unpin: no pool");
    pool->pool->unpin(id, dirty != 0);
    return 0;
  });
}

TM_API int tm_bufferpool_read(tm_bufferpool *pool, uint64_t id, size_t offset, void *dst,
                              size_t n) {
  return guard([&] {
    if (pool == nullptr || (dst == nullptr && n != 0))
      return set_last_error(-EINVAL, "tiermem: tm_bufferpool_read: pool and dst are required");
    pool->pool->read(id, offset, std::span<std::byte>(static_cast<std::byte *>(dst), n));
    return 0;
  });
}

TM_API int tm_bufferpool_flush(tm_bufferpool *pool) {
  return guard([&] {
    if (pool == nullptr) return set_last_error(-EINVAL, "tiermem: tm_bufferpool_flush: no pool");
    pool->pool->flush();
    return 0;
  });
}

TM_API int tm_bufferpool_stats_get(const tm_bufferpool *pool, tm_bufferpool_stats *out) {
  return guard([&] {
    if (pool == nullptr || out == nullptr)
      return set_last_error(-EINVAL, "tiermem: tm_bufferpool_stats_get: pool and out are required");
    tiermem::BufferPool::Stats s = pool->pool->stats();
    *out = tm_bufferpool_stats{};
    out->ntiers = s.tiers.size();
    for (std::size_t i = 0; i < s.tiers.size(); ++i) {
      out->hits[i] = s.tiers[i].hits;
      out->frames[i] = s.tiers[i].frames;
      out->used[i] = s.tiers[i].used;
    }
    tiermem::api::copy_counters(s, *out, kPoolCounters);
    return 0;
  });
}

}  // extern "C"

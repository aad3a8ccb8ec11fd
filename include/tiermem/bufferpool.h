/**
 * @file bufferpool.h
 * @brief C ABI of the tiered buffer pool (see tiermem/bufferpool.hpp for the behaviour:
 * frames on several tiers, CLOCK per tier, demotion, promotion, eviction from the slowest
 * tier only, frames retired after a memory error). Link `tiermem_bufferpool`.
 *
 * Every function returns 0 or a negative errno-style code, with tm_last_error() naming the
 * object and the remedy; no exception crosses this ABI.
 */
#ifndef TIERMEM_BUFFERPOOL_H
#define TIERMEM_BUFFERPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "tiermem/tiermem.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TM_BUFFERPOOL_MAX_TIERS 8

typedef struct tm_bufferpool tm_bufferpool;

/** Loads page `id` into `page` (`size` bytes); returns 0 or a negative errno-style code. */
typedef int (*tm_bufferpool_read_fn)(uint64_t id, void *page, size_t size, void *user);
/** Writes dirty page `id` back; returns 0 or a negative errno-style code. */
typedef int (*tm_bufferpool_write_fn)(uint64_t id, const void *page, size_t size, void *user);
/** Dirty page `id` was lost to a memory error. Must not call into the pool. */
typedef void (*tm_bufferpool_lost_fn)(uint64_t id, void *user);

typedef struct tm_bufferpool_tier {
  const char *spec;  /**< as tm_tier_find() takes it */
  size_t capacity;   /**< bytes of frames on that tier */
} tm_bufferpool_tier;

typedef struct tm_bufferpool_config {
  size_t page_size;                  /**< power of two, 4096 .. 65536 */
  const tm_bufferpool_tier *tiers;   /**< fastest first */
  size_t ntiers;                     /**< 1 .. TM_BUFFERPOOL_MAX_TIERS */
  tm_bufferpool_read_fn read;        /**< required */
  tm_bufferpool_write_fn write;      /**< required when pages are unpinned dirty */
  tm_bufferpool_lost_fn lost;        /**< optional */
  void *user;                        /**< passed to the callbacks */
  unsigned promote_after;            /**< 0: the default (2 hits) */
} tm_bufferpool_config;

typedef struct tm_bufferpool_stats {
  size_t ntiers;
  uint64_t hits[TM_BUFFERPOOL_MAX_TIERS];    /**< pins and reads served per tier */
  uint64_t frames[TM_BUFFERPOOL_MAX_TIERS];  /**< frames each tier's capacity allows */
  uint64_t used[TM_BUFFERPOOL_MAX_TIERS];    /**< frames holding a page */
  uint64_t misses, promotions, demotions, evictions, writebacks, retired, lost;
} tm_bufferpool_stats;

/** Creates a pool in `*out`: -EINVAL (config), -ENOENT (tier), -ENOMEM (capacity). */
TM_API int tm_bufferpool_create(const tm_bufferpool_config *config, tm_bufferpool **out);
/** Writes dirty unpinned pages back (errors ignored) and frees the pool. NULL is a no-op. */
TM_API void tm_bufferpool_destroy(tm_bufferpool *pool);
/** Pins page `id`; `*data` gets its bytes. -EBUSY (all frames pinned), -EOVERFLOW (2^20 pins
 *  of the page held already), callback codes. */
TM_API int tm_bufferpool_pin(tm_bufferpool *pool, uint64_t id, void **data);
/** Undoes one pin; `dirty` non-zero when the page was modified. -EINVAL when not pinned. */
TM_API int tm_bufferpool_unpin(tm_bufferpool *pool, uint64_t id, int dirty);
/** Copies `n` bytes of page `id` from byte `offset` on into `dst`, without a pin on a hit in
 *  the fastest tier (see BufferPool::read). -EINVAL (range past the page), -EHWPOISON (dirty
 *  page lost, failed frame pinned elsewhere, failure in `dst`), and pin's codes. */
TM_API int tm_bufferpool_read(tm_bufferpool *pool, uint64_t id, size_t offset, void *dst,
                              size_t n);
/** Writes every dirty unpinned page back; the first callback error is returned. */
TM_API int tm_bufferpool_flush(tm_bufferpool *pool);
TM_API int tm_bufferpool_stats_get(const tm_bufferpool *pool, tm_bufferpool_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TIERMEM_BUFFERPOOL_H */

/**
 * @file heap.h
 * @brief Allocation on a chosen tier: tiers, the tiered heap, policies and statistics.
 *
 * Included by tiermem/tiermem.h. Every function is thread-safe and never throws. Functions
 * returning a pointer return NULL on failure and set `errno`; `tm_last_error()` then holds a
 * one-line message naming the tier, pointer or text involved and what to do.
 *
 * The heap starts on first use: it discovers the topology, appends the tiers of
 * `TIERMEM_EMULATE` (see tiermem-policy(7)), and opens a tier's memory the first time
 * `tm_tier_find()` names it. Every allocation of a tier lies in an address range reserved for
 * that tier, so `tm_free()`, `tm_realloc()`, `tm_usable_size()` and `tm_tier_of()` need no
 * tier argument and take no lock.
 */
#ifndef TIERMEM_HEAP_H
#define TIERMEM_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "tiermem/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A tier the heap allocates from. Valid until the process exits; never freed. */
typedef struct tm_tier tm_tier;

/**
 * The tier named by `spec`, opening it on first use:
 *   "rank:N"        the N-th tier of `tiermem list` (0 = fastest)
 *   "kind:KIND"     the fastest tier of that kind ("hbm", "dram", "cxl-dram", "emulated", ...)
 *   "node:N"        NUMA node N alone
 *   "dax:daxX.Y"    a dax device: mapped directly in devdax mode, through its target node in
 *                   system-ram mode
 *   "emulated:NAME" a TIERMEM_EMULATE tier
 * Specs naming the same memory return the same tier. NULL + errno (ENOENT unknown, EINVAL
 * malformed, EBUSY device held by another process, ENODEV device gone or in the wrong mode).
 */
TM_API tm_tier *tm_tier_find(const char *spec);

/** `n` bytes on `tier` (n == 0 gives a unique minimal block). NULL + ENOMEM when full. */
TM_API void *tm_malloc(tm_tier *tier, size_t n);
/** Zeroed `count * n` bytes on `tier`; NULL + ENOMEM on overflow or when full. */
TM_API void *tm_calloc(tm_tier *tier, size_t count, size_t n);
/**
 * Resizes a tiermem block; the block stays on p's tier (NULL + ENOMEM when that tier is full;
 * tm_policy_realloc() moves it to another tier of a policy instead). `p == NULL` allocates
 * with the default policy (tm_policy_default()); `n == 0` frees p and returns NULL. On failure
 * p is untouched. A foreign `p` is reported and NULL returned (EINVAL).
 */
TM_API void *tm_realloc(void *p, size_t n);
/** `n` bytes aligned to `align` (a power of two) on `tier`; NULL + EINVAL for a bad align. */
TM_API void *tm_aligned_alloc(tm_tier *tier, size_t align, size_t n);
/**
 * Frees any tiermem block, or nothing for NULL. A pointer tiermem never gave out is not
 * freed, nor passed to libc's free(): it is counted (`foreign_frees` in the statistics),
 * reported on stderr (the first few times) and in tm_last_error().
 */
TM_API void tm_free(void *p);
/** Usable size of a tiermem block; 0 for NULL or a foreign pointer. */
TM_API size_t tm_usable_size(const void *p);
/**
 * The tier a tiermem block lies on (its home); NULL for NULL or a foreign pointer. A block of
 * an auto(FAST<=SIZE, SLOW) policy lives on SLOW's tier, and tm_tier_of() answers SLOW for it
 * wherever its bytes are now (see tm_tier_now()).
 */
TM_API tm_tier *tm_tier_of(const void *p);

/**
 * What a tier spec names, without opening the tier (no device is locked): returns 1 and the
 * NUMA nodes when the kernel can serve it through a memory policy (a node tier, or a dax device
 * in system-ram mode), 0 when only tiermem's heap can (a devdax device, an emulated tier), or
 * a negative code with tm_last_error() for an unknown spec. At most `max` nodes are written;
 * `*count` gets their number.
 */
TM_API int tm_tier_spec_nodes(const char *spec, unsigned *nodes, size_t max, size_t *count);

/**
 * How long freed pages stay resident before they go back to the tier, for tiers opened after
 * this call: 0 at once (as glibc trims), -1 never, else milliseconds (at most 10^12). The
 * default is TIERMEM_DECAY_MS when set, else jemalloc's 10 s, which is faster for
 * allocation-heavy programs but holds more memory; a call here beats TIERMEM_DECAY_MS.
 * "Back" means: a node tier's pages go to the kernel (MADV_DONTNEED) and an emulated tier's
 * to the memfd's hole (punched), so the process's RSS falls; a devdax tier's pages cannot
 * leave the device and stay with the tier, free for its next allocation in this process.
 * Returns 0 or -EINVAL.
 */
TM_API int tm_set_decay_ms(long ms);
/** tm_set_decay_ms() for one open tier, from now on. Returns 0 or -EINVAL. */
TM_API int tm_tier_set_decay_ms(tm_tier *tier, long ms);
/**
 * Transparent huge pages for a node tier (on: MADV_HUGEPAGE over the tier's memory, off:
 * MADV_NOHUGEPAGE); TIERMEM_THP=on/off does the same for every node tier a program opens.
 * Without a call the kernel's default holds (/sys/kernel/mm/transparent_hugepage/enabled:
 * "madvise" means none, "always" means huge pages, which can raise RSS). Huge pages cut TLB
 * misses on large, randomly read blocks. Returns 0, -EINVAL for NULL, -ENOTSUP (with one line
 * in tm_last_error()) for a tier that is not a node tier or when the kernel's THP is "never",
 * -EBUSY (with one line) for turning them on for the SLOW tier of an auto() policy, whose writes
 * are tracked per 4 KiB page.
 */
TM_API int tm_tier_set_huge_pages(tm_tier *tier, int on);

/** The tier's canonical name ("node:0", "rank:1", "dax:dax0.0", "emulated:slow"). */
TM_API const char *tm_tier_name(const tm_tier *tier);
/**
 * Caps `tier` at `bytes` (UINT64_MAX: no cap; 0: nothing more, every allocation fails). The
 * cap holds for both the bytes of live blocks (usable sizes, counted from the first limit on,
 * starting from the live bytes at that moment) and the memory the tier's arena maps (its
 * extents; jemalloc's first 2 MiB metadata block of the arena is not counted). Past it,
 * allocations on the tier fail with ENOMEM (and policies fall through to their next tier);
 * freeing makes room again. A limit below the current use lets no block in until enough is
 * freed. Returns 0, or -EINVAL for a NULL tier.
 */
TM_API int tm_tier_set_limit(tm_tier *tier, uint64_t bytes);

/* ------------------------------------------------------------------------------------ */
/* Policies: which tier serves a request (grammar in tiermem-policy(7)).                */
/* ------------------------------------------------------------------------------------ */

typedef struct tm_policy tm_policy;

/**
 * Parses a policy, e.g. "preferred(kind:hbm<=2G, rank:0)", and opens its tiers (a `<=SIZE`
 * sets that tier's limit, as tm_tier_set_limit). NULL + errno (EINVAL: text, naming the
 * offending part; ENOENT/EBUSY/...: a tier). Free with tm_policy_free().
 */
TM_API tm_policy *tm_policy_parse(const char *text);
/**
 * Checks a policy as tm_policy_parse() would (the grammar, and that every tier it names exists
 * on this machine and TIERMEM_EMULATE) without opening any tier: no memory is reserved, no
 * device opened, the heap not started. 0, or a negative code with tm_last_error(). A checked
 * policy can still fail to open (a device another process holds, say).
 */
TM_API int tm_policy_check(const char *text);
TM_API void tm_policy_free(tm_policy *policy);
/** The process default: `TIERMEM_POLICY` if set, else "bind(rank:0)". Not to be freed. */
TM_API tm_policy *tm_policy_default(void);
/** The policy in canonical text; valid while the policy lives. */
TM_API const char *tm_policy_text(const tm_policy *policy);
/** `n` bytes where `policy` says (NULL: tm_policy_default()). NULL + ENOMEM when no tier can. */
TM_API void *tm_policy_malloc(tm_policy *policy, size_t n);
/**
 * Resizes a tiermem block as tm_realloc() does while p's tier has room; when it has none
 * (full, or at its limit), the block moves to the tiers of `policy` (NULL:
 * tm_policy_default()) as tm_policy_malloc() would pick them, its bytes are copied and p is
 * freed. A policy that names only p's tier gives NULL + ENOMEM and p untouched. `p == NULL`
 * is tm_policy_malloc(); `n == 0` frees p and returns NULL; a foreign p is reported, NULL
 * returned (EINVAL). The preload library's realloc() is this call with TIERMEM_POLICY.
 */
TM_API void *tm_policy_realloc(tm_policy *policy, void *p, size_t n);
TM_API void *tm_policy_calloc(tm_policy *policy, size_t count, size_t n);
TM_API void *tm_policy_aligned_alloc(tm_policy *policy, size_t align, size_t n);

/* ------------------------------------------------------------------------------------ */
/* Migration: auto(FAST<=SIZE, SLOW)                                                     */
/* ------------------------------------------------------------------------------------ */
/*
 * A block of an auto policy is allocated on SLOW's tier and keeps its address for good; one
 * tiermem thread per process (the migration engine, started when the first auto policy is
 * made, stopped at exit) tracks which 2 MiB units of SLOW's tier are written and keeps the
 * hottest on FAST's NUMA node, at most SIZE bytes of them at a time. While an auto policy is
 * open, every block of SLOW's tier may move to FAST, whichever call allocated it: the tier is
 * the migrating one. FAST must be one NUMA node; SIZE at most its memory; SLOW a node, an
 * emulated (TIERMEM_EMULATE) or a devdax tier not ranked faster than FAST. A process has one
 * FAST and SIZE: a second auto policy must name the same ones (any SLOW).
 *
 * Writes are tracked with the kernel's soft-dirty bits (CONFIG_MEM_SOFT_DIRTY): where the
 * kernel keeps none, tm_policy_parse() of an auto policy fails saying so. A write that the
 * kernel makes for the program (read(2), recv(2)) into a unit while it moves (one copy and
 * one mremap of 2 MiB) fails with EFAULT: see docs/migration.md.
 *
 * fork(): the child keeps every block, valid, with its bytes (a promoted unit's are copied
 * from its address), and can allocate, but nothing migrates in the child: its engine stays
 * stopped, tm_tier_now() answers tm_tier_of(), its migration statistics read 0 and
 * tm_migrate_resume() fails with -ENOTSUP.
 */

/**
 * The tier whose memory holds the byte at `p` now: FAST's tier when the unit holding it was
 * promoted there, else tm_tier_of(p). NULL for NULL or a foreign pointer. May wait for the
 * engine's current interval (a few milliseconds). Answers what the engine did: the kernel may
 * still put a page elsewhere (a node tier's freed page refaults on SLOW's node).
 */
TM_API tm_tier *tm_tier_now(const void *p);
/**
 * Stops moving after the current move: every block stays valid where it is, promoted units
 * stay on FAST. 0, or a negative code. Without an auto policy yet, the engine starts paused.
 */
TM_API int tm_migrate_pause(void);
/** Starts moving again after tm_migrate_pause(). 0, or a negative code (-ENOTSUP in a child
 *  of fork(); a kernel that cannot track writes). */
TM_API int tm_migrate_resume(void);

/** The migration engine's pacing; a 0 field keeps the value it has. */
typedef struct tm_migrate_config {
  unsigned interval_ms;       /**< between scans (default 500; TIERMEM_MIGRATE_INTERVAL_MS; up to 8x while nothing is worth moving) */
  uint64_t rate_bytes_per_s;  /**< bytes moved per second at most (default 256 MiB;
                                   TIERMEM_MIGRATE_RATE) */
  double cpu_share;           /**< the engine thread's CPU budget, a share of one core,
                                   0 < x <= 1 (default 0.03; TIERMEM_MIGRATE_CPU) */
  unsigned min_residency_ms;  /**< on either side before a unit may move again (default 2000) */
} tm_migrate_config;
/**
 * Changes the pacing from the engine's next interval, or for the engine when it starts (a
 * value set here beats the environment's). 0, or -EINVAL for NULL or a cpu_share outside
 * (0, 1].
 */
TM_API int tm_migrate_configure(const tm_migrate_config *c);

/* ------------------------------------------------------------------------------------ */
/* Statistics                                                                            */
/* ------------------------------------------------------------------------------------ */

typedef struct tm_tier_stats {
  const char *name;      /**< tm_tier_name() */
  const char *backend;   /**< e.g. "node 0 (MPOL_BIND)", "/dev/dax0.0 (devdax, ...)" */
  uint64_t capacity;     /**< bytes the tier can provide to this process */
  uint64_t limit;        /**< tm_tier_set_limit(), UINT64_MAX when none */
  uint64_t mapped;       /**< bytes taken from the tier so far (kept for reuse once freed),
                              jemalloc's first 2 MiB metadata block of the tier not counted */
  uint64_t allocated;    /**< bytes in live blocks, including blocks cached by threads */
  uint64_t peak;         /**< highest bytes in live blocks the tier has held since it was
                              opened, also when they were freed before any statistics read:
                              each thread folds its own count in every 64 KiB it moves (so
                              the figure may trail the true high by up to 64 KiB a thread),
                              and never below an `allocated` a statistics read has seen */
  uint64_t failures;     /**< requests the tier could not serve (a policy may then have
                              served them elsewhere: see fallbacks) */
  uint64_t fallbacks;    /**< policy allocations that moved on from this tier to the next */
  uint64_t quarantined;  /**< bytes of blocks kept out of use for good because they hold
                              poison (freed, or handed out by jemalloc after the error); they
                              stay in `allocated` (see tiermem/safety.h) */
  uint64_t quarantined_blocks; /**< how many such blocks */
  uint64_t repaired;     /**< bytes of lost pages replaced by zeroed ones (TIERMEM_POISON=repair) */
  /* Migration (auto policies). For SLOW's tier: its units' moves; for FAST's: the moves of
     every SLOW tier to and from it. 0 for tiers without migration and in a child of fork(). */
  uint64_t promoted_bytes;       /**< moved up to FAST, in all */
  uint64_t demoted_bytes;        /**< moved back from FAST, in all */
  uint64_t moved_back_10s_bytes; /**< of demoted_bytes, those back within 10 s of arriving
                                      (ping-pong) */
  uint64_t fast_resident_bytes;  /**< on FAST now; at most the policy's SIZE */
  uint64_t tracking_scans;       /**< the engine's scans of the written bits (whole engine) */
  uint64_t tracking_cpu_ns;      /**< CPU time of the engine's thread (whole engine) */
  uint64_t moving_cpu_ns;        /**< of tracking_cpu_ns, the part spent moving units
                                      (move_pages, or copy and remap) */
} tm_tier_stats;

/** Fills `out` for `tier`. 0 or -EINVAL. */
TM_API int tm_tier_stats_get(tm_tier *tier, tm_tier_stats *out);
/** The tiers opened so far; writes up to `max` of them to `out`, returns how many exist. */
TM_API size_t tm_tiers_opened(tm_tier **out, size_t max);
/** {"tiers":[{name, kind, rank, backend, capacity, limit, mapped, allocated, peak, failures,
 *  fallbacks, quarantined, quarantined_blocks, repaired, promoted_bytes, demoted_bytes,
 *  moved_back_10s_bytes, fast_resident_bytes, tracking_scans, tracking_cpu_ns, moving_cpu_ns}...], "foreign_frees": N,
 *  "pid": the calling process's id, "command": its name as ps shows it (/proc/self/comm)};
 *  free() the result. NULL on ENOMEM. */
TM_API char *tm_stats_json(void);

#ifdef __cplusplus
}
#endif

#endif /* TIERMEM_HEAP_H */

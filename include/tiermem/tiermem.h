/**
 * @file tiermem.h
 * @brief tiermem's C ABI: tier discovery and (later) allocation on tiered memory.
 *
 * Every function here is `extern "C"`, never throws, and reports failure as a negative
 * errno-style code (`-ENOENT`, `-EINVAL`, ...). `tm_strerror()` turns a code into text;
 * `tm_last_error()` returns the detailed one-line message of the calling thread's last
 * failure, naming the object involved and what to do about it.
 */
#ifndef TIERMEM_TIERMEM_H
#define TIERMEM_TIERMEM_H

#include <stddef.h>
#include <stdint.h>

#include "tiermem/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Generic text for a (negative) error code returned by a tiermem call. */
TM_API const char *tm_strerror(int code);

/**
 * The calling thread's last detailed error, e.g.
 * "tiermem: /sys/bus/dax/devices/dax0.0/target_node: 'abc' is not a number; ...".
 * Empty string when no call has failed on this thread. Valid until the next failing call.
 */
TM_API const char *tm_last_error(void);

/* ------------------------------------------------------------------------------------ */
/* Topology                                                                              */
/* ------------------------------------------------------------------------------------ */

/** An immutable snapshot of the machine's memories, built once by tm_topology_load(). */
typedef struct tm_topology tm_topology;

/** Where to read the topology from. Zero-initialise; NULL fields mean "this machine". */
typedef struct tm_topology_options {
  /** Root of a recorded machine (a directory shaped like `/`); NULL: `TIERMEM_FSROOT`, else `/`. */
  const char *fsroot;
  /** An hwloc XML file to read instead of sysfs (no dax devices then). */
  const char *hwloc_xml;
} tm_topology_options;

/** Mode of a dax device, from its bound driver. */
typedef enum tm_dax_mode {
  TM_DAX_DEVDAX = 0,     /**< bound to `device_dax`: a character device to mmap */
  TM_DAX_SYSTEM_RAM = 1, /**< bound to `kmem`: onlined as (CPU-less) NUMA node memory */
  TM_DAX_UNBOUND = 2,    /**< no driver */
  TM_DAX_OTHER = 3       /**< another driver (see `driver`) */
} tm_dax_mode;

/** A NUMA node. Unknown numbers are -1, never invented. */
typedef struct tm_node_info {
  unsigned os_index;
  int online;               /**< 1 when the node is online */
  int has_cpus;             /**< 1 when CPUs are local to the node */
  uint64_t capacity_bytes;  /**< 0 when offline */
  const char *subtype;      /**< "DRAM", "HBM", "NVM", "SPM", "CXL-DRAM", "GPUMemory" or "" */
  int64_t bandwidth_mbps;   /**< from the local initiators (hwloc memattrs), -1 unknown */
  int64_t latency_ns;       /**< from the local initiators (hwloc memattrs), -1 unknown */
  int memory_tier;          /**< kernel memory_tiering id (`memory_tierN`), -1 if none */
} tm_node_info;

/** A device-dax device (`/sys/bus/dax/devices/daxX.Y` or `/sys/class/dax/daxX.Y`). */
typedef struct tm_dax_info {
  const char *name;         /**< "dax0.0" */
  const char *path;         /**< "/dev/dax0.0" */
  uint64_t size;
  uint64_t align;           /**< 0 when the kernel does not export it */
  int target_node;          /**< -1 when the kernel does not export it */
  int64_t resource;         /**< physical start address, -1 when hidden or absent */
  tm_dax_mode mode;
  const char *driver;       /**< bound driver name, "" when unbound */
} tm_dax_info;

/** A tier: nodes and dax devices of like performance. Rank 0 is the fastest. */
typedef struct tm_tier_info {
  unsigned rank;
  const char *kind;             /**< "HBM", "DRAM", "NVM", "CXL-DRAM", "SPM", "unknown", ... */
  const unsigned *numa_nodes;
  size_t numa_node_count;
  const size_t *dax_devices;    /**< indices for tm_topology_dax() */
  size_t dax_device_count;
  uint64_t capacity_bytes;
  int64_t bandwidth_mbps;       /**< -1 unknown */
  int64_t latency_ns;           /**< -1 unknown */
  const char *note;             /**< why the tier was placed where it is, when not obvious */
} tm_tier_info;

/** Discover the topology. `opts` may be NULL. Returns 0 or a negative code (see tm_last_error). */
TM_API int tm_topology_load(const tm_topology_options *opts, tm_topology **out);
TM_API void tm_topology_free(tm_topology *topo);

TM_API size_t tm_topology_tier_count(const tm_topology *topo);
TM_API size_t tm_topology_node_count(const tm_topology *topo);
TM_API size_t tm_topology_dax_count(const tm_topology *topo);
/** Fill `out` with element `i`; pointers stay valid until tm_topology_free(). -ERANGE past the end. */
TM_API int tm_topology_tier(const tm_topology *topo, size_t i, tm_tier_info *out);
TM_API int tm_topology_node(const tm_topology *topo, size_t i, tm_node_info *out);
TM_API int tm_topology_dax(const tm_topology *topo, size_t i, tm_dax_info *out);

/** The topology as the JSON document `tiermem list --json` prints; free() the result. NULL on ENOMEM. */
TM_API char *tm_topology_to_json(const tm_topology *topo);

#ifdef __cplusplus
}
#endif

/* The allocation API (tm_malloc, tm_free, tiers, policies, statistics). */
#if __has_include("tiermem/heap.h")
#include "tiermem/heap.h"
#endif

/* Memory errors: tm_copy_mc, the SIGBUS handler, the poison registry. */
#if __has_include("tiermem/safety.h")
#include "tiermem/safety.h"
#endif

#endif /* TIERMEM_TIERMEM_H */

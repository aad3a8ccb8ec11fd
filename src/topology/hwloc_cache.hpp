// hwloc's view of the machine, kept per boot. A full hwloc discovery reads a hundred and more
// sysfs files and probes every CPU (sched_setaffinity + cpuid): about 2 ms in every process
// that starts under the preload library, whose own work is a few sysfs reads. What tiermem
// takes from hwloc (each node's subtype and memory attributes) only changes with the boot or
// with the set of nodes and CPUs, so the result is cached in a per-user file keyed by exactly
// those facts, read afresh each time: the boot id, the online node, memory and CPU lists, the
// recorded root, hwloc's version and the HWLOC_* environment. Anything else discovery reports
// (capacities, distances, memory tiers, dax devices and their modes) is read from sysfs in
// every process, as before. A cache that is missing, foreign, unsafe or unreadable is simply
// not used; the cache never changes what is discovered, only how fast.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "platform/sysfs.hpp"
#include "topology/sources.hpp"

namespace tiermem::topology {

/**
 * read_hwloc_fsroot(root.root()), from the cache when it holds this boot's answer for the
 * same machine state, else from hwloc (and then stored). Throws as read_hwloc_fsroot does.
 */
std::vector<HwlocNode> read_hwloc_cached(const platform::SysfsRoot &root);

/**
 * The cache file that read_hwloc_cached() would use for `root` now, or nullopt when the cache
 * is off here (TIERMEM_CACHE_DIR=off, a set-id program, no boot id below the root, or a cache
 * directory that is not the user's own). For tests and `tiermem list --verbose`.
 */
/**
 * The per-user directory of tiermem's runtime files (this cache, the statistics a heap
 * publishes): TIERMEM_CACHE_DIR, else $XDG_RUNTIME_DIR/tiermem, else /run/tiermem for root,
 * else /tmp/tiermem-UID; created if missing. nullopt when TIERMEM_CACHE_DIR=off, in a set-id
 * program, or when the directory is not the user's own (others could write it).
 */
std::optional<std::string> runtime_dir();

std::optional<std::string> hwloc_cache_file(const platform::SysfsRoot &root);

/**
 * The nodes a cache file's text holds for `key`; nullopt when the text is damaged or holds
 * another key (such a file is not used). The reader of read_hwloc_cached(), and a fuzz target's.
 */
std::optional<std::vector<HwlocNode>> parse_hwloc_cache(std::string_view text, std::string_view key);
/**
 * The text of a cache file holding `nodes` for `key` (what parse_hwloc_cache() reads back).
 * Throws std::exception when a string is not UTF-8 (JSON cannot hold it unaltered).
 */
std::string format_hwloc_cache(std::string_view key, const std::vector<HwlocNode> &nodes);

}  // namespace tiermem::topology

// Who this process is, for lines that several processes of one job write to the same stderr.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tiermem::platform {

/**
 * The program's name as ps and top show it (/proc/self/comm: the executable's or script's
 * file name, at most 15 characters); glibc's program_invocation_short_name where /proc is
 * not mounted.
 */
std::string command_name();

/**
 * When process `pid` started (field 22 of /proc/PID/stat, clock ticks after boot; `pid` 0
 * is this process): with the pid, what tells one process from a later one that reuses its
 * pid. 0 when /proc does not say. Async-signal-safe: no allocation (a fork child uses it).
 */
std::uint64_t start_time(long pid) noexcept;

/**
 * Names an anonymous mapping "[anon:NAME]" in /proc/PID/maps (prctl PR_SET_VMA_ANON_NAME),
 * so that tools can tell tiermem's memory from the program's. False where the kernel lacks
 * CONFIG_ANON_VMA_NAME (EINVAL): the mapping then stays unnamed, which harms nothing.
 */
bool name_anon_mapping(void *addr, std::size_t len, const char *name) noexcept;

/** The kernel's limit on one process's mappings (/proc/sys/vm/max_map_count); nullopt when it
 *  cannot be read. The running kernel's, also when a recorded machine is named (the program
 *  runs here). */
std::optional<std::uint64_t> max_map_count();

/** How many mappings this process has now (the lines of /proc/self/maps); nullopt when it
 *  cannot be read. */
std::optional<std::uint64_t> mapping_count();

}  // namespace tiermem::platform

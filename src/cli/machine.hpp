// What several subcommands share: the machine as the program's heap would see it, and CPU
// lists in numactl's syntax.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cli/commands.hpp"
#include "tiermem/topology.hpp"

namespace tiermem::cli {

// The machine a program would see: the heap's discovery (--fsroot, else TIERMEM_FSROOT, else
// this machine) plus TIERMEM_EMULATE's tiers. Specs are resolved on it in topology, so that
// nothing is opened: no heap, no address-space reservation, no lock.
struct Machine {
  Topology topo = Topology::from_parts({}, {});
  bool recorded = false;    // not this machine: libnuma and the kernel cannot answer for it
  std::string why_unknown;  // this machine's discovery failed; the heap would carry on too
};

/** Throws tiermem::Error naming --fsroot, the hwloc XML or TIERMEM_EMULATE. */
Machine load_machine(const Global &g);

/** "0-3,5" for {0,1,2,3,5} (CPUs or nodes); "-" for none. */
std::string range_text(const std::vector<unsigned> &cpus);

/**
 * numactl's CPU list ("0-3,5", "all", "!2") against `available`, sorted; nullopt when the
 * text is malformed or names a CPU not available.
 */
std::optional<std::vector<unsigned>> parse_cpu_list(const std::string &text,
                                                    const std::vector<unsigned> &available);

/** Whole MiB, as numactl prints sizes ("3935 MiB"); "unknown" for nullopt. */
std::string mib_text(std::optional<std::uint64_t> bytes);

/** The CPUs this process may run on (sched_getaffinity). */
std::vector<unsigned> allowed_cpus();

/** The spec that names the tier: "rank:N", "emulated:NAME" for an emulated one. */
std::string tier_spec(const Tier &t);

}  // namespace tiermem::cli

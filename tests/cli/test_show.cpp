// `tiermem show` and `tiermem hardware`: numactl --show and --hardware in tiers.
#include <doctest/doctest.h>

#include "support.hpp"

namespace t = tiermem::test;
using t::lines;

TEST_CASE("show names the policy a program would run under and where it came from") {
  auto r = t::run_cli("show", "env -u TIERMEM_POLICY");
  CHECK(r.status == 0);
  CHECK(r.out.find("policy: bind(rank:0) (the default; TIERMEM_POLICY is unset)\n") == 0);
  r = t::run_cli("show", "TIERMEM_EMULATE=slow:1G TIERMEM_POLICY='preferred(emulated:slow, rank:0)'");
  CHECK(r.status == 0);
  CHECK(r.out.find("policy: preferred(emulated:slow, rank:0) (TIERMEM_POLICY)\n") == 0);
  CHECK(r.out.find("  TIERMEM_EMULATE=slow:1G\n") != std::string::npos);
  CHECK(r.out.find("  tier 1 (emulated:slow, emulated): emulated in a memfd, no nodes\n") != std::string::npos);
}

TEST_CASE("show parses the other TIERMEM variables as the library does") {
  auto r = t::run_cli("show", "TIERMEM_STATS=on TIERMEM_LOG=info TIERMEM_DECAY_MS=250");
  CHECK(r.status == 0);
  CHECK(r.out.find("statistics at exit: on (TIERMEM_STATS)\n") != std::string::npos);
  CHECK(r.out.find("messages: info (TIERMEM_LOG)\n") != std::string::npos);
  CHECK(r.out.find("decay: 250 ms (TIERMEM_DECAY_MS)\n") != std::string::npos);
  CHECK(r.out.find("huge pages on node tiers: the kernel's default (TIERMEM_THP)\n") != std::string::npos);
  r = t::run_cli("show", "env -u TIERMEM_DECAY_MS");
  CHECK(r.out.find("decay: unset: 0 under the preload library, else jemalloc's 10 s (TIERMEM_DECAY_MS)\n") !=
        std::string::npos);
  r = t::run_cli("show", "TIERMEM_THP=on");
  CHECK(r.status == 0);
  CHECK(r.out.find("huge pages on node tiers: on (MADV_HUGEPAGE) (TIERMEM_THP)\n") != std::string::npos);
  r = t::run_cli("show", "TIERMEM_THP=maybe");
  CHECK(r.status == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("TIERMEM_THP='maybe' is not a boolean") != std::string::npos);
  r = t::run_cli("show", "TIERMEM_STATS=2");
  CHECK(r.status == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("TIERMEM_STATS='2' is not a boolean") != std::string::npos);
  r = t::run_cli("show", "TIERMEM_POLICY='bind('");
  CHECK(r.status == 2);
  CHECK(r.err.find("tiermem show: TIERMEM_POLICY='bind(': policy 'bind(': ") == 0);
}

TEST_CASE("show parses the migration variables as the library does") {
  auto r = t::run_cli("show", "env -u TIERMEM_MIGRATE_INTERVAL_MS -u TIERMEM_MIGRATE_RATE -u TIERMEM_MIGRATE_CPU");
  CHECK(r.status == 0);
  CHECK(r.out.find("migration interval: 500 ms, the default (TIERMEM_MIGRATE_INTERVAL_MS)\n") != std::string::npos);
  CHECK(r.out.find("migration rate: 256 MiB/s, the default (TIERMEM_MIGRATE_RATE)\n") != std::string::npos);
  CHECK(r.out.find("migration CPU budget: 0.03 of one core, the default (TIERMEM_MIGRATE_CPU)\n") != std::string::npos);
  r = t::run_cli("show", "TIERMEM_MIGRATE_INTERVAL_MS=100 TIERMEM_MIGRATE_RATE=64M TIERMEM_MIGRATE_CPU=0.5");
  CHECK(r.status == 0);
  CHECK(r.out.find("migration interval: 100 ms (TIERMEM_MIGRATE_INTERVAL_MS)\n") != std::string::npos);
  CHECK(r.out.find("migration rate: 67108864 bytes/s (TIERMEM_MIGRATE_RATE)\n") != std::string::npos);
  CHECK(r.out.find("migration CPU budget: 0.5 of one core (TIERMEM_MIGRATE_CPU)\n") != std::string::npos);
  r = t::run_cli("show", "TIERMEM_MIGRATE_CPU=0");
  CHECK(r.status == 2);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("TIERMEM_MIGRATE_CPU='0' is not a share of one core above 0 and at most 1") != std::string::npos);
}

TEST_CASE("show reports the kernel policy and the CPUs a child inherits") {
  auto r = t::run_cli("run -m 0 -C 0 -- " TIERMEM_CLI " show");
  CHECK(r.status == 0);
  CHECK(r.out.find("\nkernel policy: bind, nodes 0\n") != std::string::npos);
  CHECK(r.out.find("\ncpus: 0\n") != std::string::npos);
  CHECK(r.out.find("\ncpu nodes: 0\n") != std::string::npos);
  r = t::run_cli("run -l -- " TIERMEM_CLI " show");
  CHECK(r.out.find("\nkernel policy: local\n") != std::string::npos);
}

TEST_CASE("hardware shows each tier's nodes with CPUs, size and free memory, and the distances") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  const auto r = t::run_cli("hardware --fsroot '" + root + "'");
  REQUIRE(r.status == 0);
  CHECK(r.out.find("available: 6 tiers, 7 nodes (0-2,4,6,8-9)\n") == 0);
  CHECK(r.out.find("tier 0 (rank:0, HBM): dax1.0 (system-ram) dax3.0 (system-ram), nodes 2,4\n"
                   "  node 2 cpus: 4-5\n  node 2 size: 512 MiB\n  node 2 free: 509 MiB\n"
                   "  node 4 cpus: -\n") != std::string::npos);
  CHECK(r.out.find("tier 3 (rank:3, unknown): dax0.0 (devdax), size 512 MiB, no nodes, no CPUs\n") !=
        std::string::npos);
  CHECK(r.out.find("node distances:\nnode   0   1   2   4   6   8   9\n  0:  10  20  20  20  20  20  20\n") !=
        std::string::npos);
  CHECK(r.out == t::run_cli("--fsroot '" + root + "' hardware").out);
}

TEST_CASE("hardware on this machine lists the DRAM tier with node 0's CPUs") {
  const auto r = t::run_cli("hardware");
  CHECK(r.status == 0);
  CHECK(r.out.find("DRAM): nodes 0") != std::string::npos);
  CHECK(r.out.find("  node 0 free: ") != std::string::npos);
  CHECK(r.out.find("node distances:") != std::string::npos);
}

#include <doctest/doctest.h>

#include <algorithm>
#include <fstream>
#include <set>

#include "stats_lines.hpp"
#include "cli/cli_support.hpp"
#include "support.hpp"

namespace t = tiermem::test;
using t::lines;

TEST_CASE("run --membind with a node list uses the kernel's memory policy") {
  const auto r = t::run_cli("run --dry-run --membind=0 -- python3 -c 'print(1)'");
  CHECK(r.status == 0);
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_BIND, nodes 0) and exec: python3 -c 'print(1)'\n");
}

TEST_CASE("run --membind with a node tier's name uses the kernel's memory policy too") {
  const auto r = t::run_cli("run --dry-run --membind=rank:0 -- ls");
  CHECK(r.out.find("set_mempolicy(MPOL_BIND, nodes 0)") != std::string::npos);
  CHECK(t::run_cli("run --dry-run --preferred=0 -- ls").out.find("MPOL_PREFERRED, nodes 0") != std::string::npos);
  CHECK(t::run_cli("run --dry-run --interleave=all -- ls").out.find("MPOL_INTERLEAVE, nodes 0") != std::string::npos);
}

TEST_CASE("the child really runs under the policy the kernel was given") {
  const auto r = t::run_cli("run --membind=0 -- numactl --show");
  CHECK(r.status == 0);
  CHECK(r.out.find("policy: bind") != std::string::npos);
  CHECK(r.out.find("membind: 0") != std::string::npos);
}

TEST_CASE("emulated tiers, weights and thresholds go through the preload library") {
  const std::string env = "TIERMEM_EMULATE=slow:1G";
  auto r = t::run_cli("run --dry-run --membind=emulated:slow -- ls", env);
  CHECK(r.out.find("LD_PRELOAD=") != std::string::npos);
  CHECK(r.out.find("libtiermem_preload.so TIERMEM_POLICY='bind(emulated:slow)': ls") != std::string::npos);
  r = t::run_cli("run --dry-run --weights=0=3,emulated:slow=1 -- ls", env);
  CHECK(r.out.find("TIERMEM_POLICY='weighted(node:0=3, emulated:slow=1)'") != std::string::npos);
  r = t::run_cli("run --dry-run --threshold=64K,0,emulated:slow -- ls", env);
  CHECK(r.out.find("TIERMEM_POLICY='threshold(64K, node:0, emulated:slow)'") != std::string::npos);
  r = t::run_cli("run --dry-run --preferred=emulated:slow,0 -- ls", env);
  CHECK(r.out.find("TIERMEM_POLICY='preferred(emulated:slow, node:0)'") != std::string::npos);
}

TEST_CASE("an existing LD_PRELOAD is kept and the preload library appended") {
  const auto r = t::run_cli("run --dry-run --policy=rank:0 -- ls", "LD_PRELOAD=libc.so.6");
  CHECK(r.out.find("LD_PRELOAD=libc.so.6:/") != std::string::npos);
}

TEST_CASE("the program's data lands on the tier through the preload library") {
  const auto r = t::run_cli("run --membind=emulated:slow -- " TIERMEM_TEST_BINARY_DIR
                            "/tests/preload/preload_probe where memfd:tiermem-slow",
                            "TIERMEM_EMULATE=slow:256M");
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out == "ok where\n");
}

TEST_CASE("--stats prints the heap's statistics when the program exits") {
  const auto r = t::run_cli("run --stats --membind=emulated:slow -- /bin/true", "TIERMEM_EMULATE=slow:256M");
  CHECK(r.status == 0);
  CHECK(r.err.find("tiermem: stats {") != std::string::npos);
  CHECK(r.err.find("emulated:slow") != std::string::npos);
}

TEST_CASE("--stats labels each process's line with its pid and command") {
  const auto r = t::run_cli("run --stats --membind=emulated:slow -- sh -c '/usr/bin/python3 -c pass; /bin/true'",
                            "TIERMEM_EMULATE=slow:256M");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto docs = t::stats_lines(r.err);
  REQUIRE(docs.size() >= 2);
  std::set<long> pids;
  std::set<std::string> commands;
  for (const auto &d : docs) {
    pids.insert(d.at("pid").get<long>());
    commands.insert(d.at("command").get<std::string>());
  }
  CHECK(pids.size() == docs.size());
  CHECK(commands.count("python3") == 1);
  CHECK(commands.count("true") == 1);
}

TEST_CASE("--stats reports the peak of a program, not what it holds at exit") {
  const auto r = t::run_cli("run --stats --membind=emulated:slow -- /usr/bin/python3 -c "
                            "'x=[bytes(1000) for _ in range(80000)]; del x'",
                            "TIERMEM_EMULATE=slow:256M");
  INFO(r.err);
  REQUIRE(r.status == 0);
  const auto docs = t::stats_lines(r.err);
  REQUIRE(docs.size() == 1);
  CHECK(t::max_peak(docs[0]) >= 80000u * 1000);
}

TEST_CASE("the child's exit status passes through and a signal becomes 128+N") {
  CHECK(t::run_cli("run -- sh -c 'exit 3'").status == 3);
  CHECK(t::run_cli("run --membind=0 -- sh -c 'exit 5'").status == 5);
  CHECK(t::run_cli("run -- sh -c 'kill -TERM $$'").status == 128 + 15);
  CHECK(t::run_cli("run --policy=rank:0 -- sh -c 'kill -KILL $$'").status == 128 + 9);
}

TEST_CASE("a program that does not exist exits 127 with one line") {
  const auto r = t::run_cli("run --membind=0 -- /nonexistent/program");
  CHECK(r.status == 127);
  CHECK(r.err == "tiermem run: cannot run '/nonexistent/program': No such file or directory\n");
}

TEST_CASE("bad launcher input exits 2 with one line naming it") {
  auto r = t::refused_cli("run --membind=0 --interleave=0 -- ls");
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("give one of") != std::string::npos);
  r = t::refused_cli("run --membind=63 -- ls");
  CHECK(r.err == "tiermem run: --membind=63: not a node list this machine has (see `tiermem list`)\n");
  r = t::refused_cli("run --membind=kind:hbm -- ls");
  CHECK(r.err.find("--membind=kind:hbm: no tier of kind 'hbm'") != std::string::npos);
  r = t::refused_cli("run --threshold=64K,0 -- ls");
  CHECK(r.err.find("expected SIZE,SMALL,LARGE") != std::string::npos);
  r = t::refused_cli("run --weights=rank:0 -- ls");
  CHECK(r.err.find("is not TIER=WEIGHT") != std::string::npos);
  r = t::refused_cli("run --policy=rank:0 -- ls", "TIERMEM_PRELOAD_LIB=/nonexistent.so");
  CHECK(r.err.find("TIERMEM_PRELOAD_LIB=/nonexistent.so does not exist") != std::string::npos);
  r = t::refused_cli("run --membind=0");
}

TEST_CASE("a bad TIERMEM_POLICY of the user's own is refused before exec, naming it") {
  const auto r = t::refused_cli("run -- /bin/true", "TIERMEM_POLICY='bind('");
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("tiermem run: TIERMEM_POLICY='bind(': policy 'bind(': ") == 0);
}

TEST_CASE("policies the program's heap would refuse are refused by the launcher, naming the flag") {
  const char *flags[] = {"--weights=rank:0=0", "--threshold=64Q,0,0", "--policy='bind(rank:0'",
                         "--preferred=rank:0,rank:5"};
  for (const char *flag : flags) {
    for (const char *mode : {"", "--dry-run "}) {
      const auto r = t::run_cli(std::string("run ") + mode + flag + " -- /bin/true");
      INFO(mode << flag << ": " << r.err);
      CHECK(r.status == 2);
      CHECK(r.out.empty());
      CHECK(lines(r.err) == 1);
      std::string named = flag;
      named.erase(std::remove(named.begin(), named.end(), '\''), named.end());
      CHECK(r.err.find("tiermem run: " + named + ": ") == 0);
      CHECK(r.err.find("TIERMEM_POLICY") == std::string::npos);
    }
  }
  CHECK(t::run_cli("run --dry-run --preferred=rank:0,rank:5 -- ls").err.find("no tier 'rank:5'") !=
        std::string::npos);
  CHECK(t::run_cli("run --dry-run --weights=rank:0=0 -- ls").err.find("a weight from 1 to 1000000") !=
        std::string::npos);
}

TEST_CASE("--fsroot is the machine run resolves tiers on, and the child's") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  auto r = t::run_cli("--fsroot '" + root + "' run --dry-run --membind=rank:1 -- ls");
  CHECK(r.status == 0);
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_BIND, nodes 0,1) and exec: ls\n");
  r = t::run_cli("run --dry-run --interleave=rank:2 -- ls", "TIERMEM_FSROOT='" + root + "'");
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_INTERLEAVE, nodes 6,8,9) and exec: ls\n");
  r = t::run_cli("--fsroot '" + root + "' run --dry-run --membind='!0-1' -- ls");
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_BIND, nodes 2,4,6,8,9) and exec: ls\n");
  // Node 0 is online on both machines, so the kernel accepts the binding here.
  r = t::run_cli("--fsroot '" + root + "' run --membind=0 -- sh -c 'echo $TIERMEM_FSROOT'");
  CHECK(r.status == 0);
  CHECK(r.out == root + "\n");
}

TEST_CASE("an empty --membind= says the flag needs a tier") {
  const auto r = t::refused_cli("run --membind= -- ls");
  CHECK(r.err == "tiermem run: --membind needs a node list or a tier, e.g. --membind=rank:0 (see `tiermem list`)\n");
  CHECK(t::run_cli("run --dry-run --weights= -- ls").err.find("--weights needs") != std::string::npos);
}

TEST_CASE("an unknown option is named as one") {
  const auto r = t::refused_cli("run --bogus -- ls");
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("tiermem run: unknown option --bogus (see `tiermem run --help`") == 0);
}

TEST_CASE("a bare number that is no node but is a tier gets the hint rank:N") {
  auto r = t::refused_cli("run --dry-run --membind=1 -- ls", "TIERMEM_EMULATE=slow:1G");
  CHECK(r.err == "tiermem run: --membind=1: not a node list this machine has (see `tiermem list`); "
                 "did you mean rank:1 (tier 1)?\n");
  r = t::refused_cli("--fsroot '" + t::machine("hwloc/fakeheteromemtiers") + "' run --dry-run --membind=3 -- ls");
  CHECK(r.err.find("did you mean rank:3 (tier 3)?") != std::string::npos);
  // 63 is neither a node nor a tier: no hint.
  CHECK(t::run_cli("run --membind=63 -- ls").err.find("did you mean") == std::string::npos);
}

TEST_CASE("run refuses an emulated tier above the cap as list does, in TiB") {
  const std::string env = "TIERMEM_EMULATE=slow:99999T";
  const auto run = t::run_cli("run --dry-run --membind=emulated:slow -- ls", env);
  const auto kernel = t::run_cli("run --dry-run --membind=0 -- ls", env);
  const auto list = t::run_cli("list", env);
  CHECK(run.status == 2);
  CHECK(kernel.status == 2);
  CHECK(list.status == 2);
  CHECK(lines(run.err) == 1);
  CHECK(run.err.find("TIERMEM_EMULATE='slow:99999T': tier 'slow' asks for 99999 TiB, more than the 4 TiB") !=
        std::string::npos);
  CHECK(run.err == list.err);
  CHECK(kernel.err == list.err);
  CHECK(t::run_cli("run --dry-run --membind=emulated:slow -- ls", "TIERMEM_EMULATE=slow:4T").status == 0);
}

TEST_CASE("run checks the preload library's variables with the library's parsers before exec") {
  auto r = t::refused_cli("run --policy=rank:0 -- /bin/true", "TIERMEM_STATS=2");
  CHECK(r.err == "tiermem run: TIERMEM_STATS='2' is not a boolean (1, yes, true, on or 0, no, false, "
                 "off); fix or unset it\n");
  r = t::run_cli("run --policy=rank:0 -- /bin/true", "TIERMEM_STATS=yes");
  CHECK(r.status == 0);
  CHECK(r.err.find("tiermem: stats {") != std::string::npos);
  r = t::refused_cli("run --dry-run --policy=rank:0 -- ls", "TIERMEM_DECAY_MS=soon");
  CHECK(r.err.find("tiermem run: TIERMEM_DECAY_MS='soon' is not -1") == 0);
  r = t::run_cli("run --dry-run --policy=rank:0 -- ls", "TIERMEM_THP=sometimes");
  CHECK(r.status == 2);
  CHECK(r.err.find("tiermem run: TIERMEM_THP='sometimes' is not a boolean") == 0);
}

TEST_CASE("--python-malloc sets PYTHONMALLOC=malloc for the child and says so in one line") {
  auto r = t::run_cli("run --python-malloc -- sh -c 'echo $PYTHONMALLOC'", "env -u PYTHONMALLOC");
  CHECK(r.status == 0);
  CHECK(r.out == "malloc\n");
  CHECK(r.err == "tiermem run: --python-malloc: the child runs with PYTHONMALLOC=malloc\n");
  r = t::run_cli("run --dry-run --python-malloc --membind=0 -- python3", "env -u PYTHONMALLOC");
  CHECK(r.status == 0);
  CHECK(r.err == "tiermem run: --python-malloc: the child runs with PYTHONMALLOC=malloc\n");
  r = t::run_cli("run -- sh -c 'echo ${PYTHONMALLOC-unset}'", "env -u PYTHONMALLOC");
  CHECK(r.out == "unset\n");  // never set without being asked
}

TEST_CASE("run's numactl short options are the long ones") {
  const char *pairs[][2] = {{"-m 0", "--membind=0"}, {"-p 0", "--preferred=0"}, {"-i all", "--interleave=all"},
                            {"-m rank:0", "--membind=rank:0"}, {"-N 0", "--cpunodebind=0"},
                            {"-C 0", "--physcpubind=0"}, {"-l", "--localalloc"}};
  for (const auto &p : pairs) {
    const auto short_form = t::run_cli(std::string("run --dry-run ") + p[0] + " -- ls");
    const auto long_form = t::run_cli(std::string("run --dry-run ") + p[1] + " -- ls");
    INFO(p[0] << ": " << short_form.err);
    CHECK(short_form.status == 0);
    CHECK(short_form.out == long_form.out);
  }
}

TEST_CASE("the program's own options need no -- once the program is named, as with numactl") {
  const auto r = t::run_cli("run --dry-run -m 0 ls -l --all");
  CHECK(r.status == 0);
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_BIND, nodes 0) and exec: ls -l --all\n");
}

TEST_CASE("--localalloc asks the kernel for local allocation and the child runs under it") {
  auto r = t::run_cli("run --dry-run --localalloc -- ls");
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_LOCAL) and exec: ls\n");
  r = t::run_cli("run -l -- numactl --show");
  CHECK(r.status == 0);
  CHECK(r.out.find("policy: local") != std::string::npos);
  // Under the heap, for --stats: the tier of the node the program runs on.
  r = t::run_cli("run --dry-run -l --stats -N 0 -- ls");
  CHECK(r.status == 0);
  CHECK(r.out.find("TIERMEM_POLICY='preferred(node:0)' TIERMEM_STATS=1: ls") != std::string::npos);
}

TEST_CASE("--cpunodebind runs the program on the CPUs of the nodes of a tier") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  // rank:0 is nodes 2 (CPUs 4-5) and 4 (memory only) on the recorded machine.
  auto r = t::run_cli("--fsroot '" + root + "' run --dry-run -N rank:0 -m rank:1 -- ls");
  CHECK(r.status == 0);
  CHECK(r.out == "tiermem run: would sched_setaffinity(cpus 4-5), set_mempolicy(MPOL_BIND, nodes 0,1) and exec: ls\n");
  r = t::run_cli("--fsroot '" + root + "' run --dry-run -N 1,2 -- ls");
  CHECK(r.out.find("sched_setaffinity(cpus 2-5)") != std::string::npos);
  // Here: the child's affinity is what numactl gives it.
  r = t::run_cli("run -N 0 -- sh -c 'grep Cpus_allowed_list /proc/self/status'");
  CHECK(r.status == 0);
  const auto want = t::run_command("numactl -N 0 -- sh -c 'grep Cpus_allowed_list /proc/self/status'");
  CHECK(r.out == want.out);
}

TEST_CASE("--cpunodebind on a tier without CPUs is refused, naming it") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  auto r = t::refused_cli("--fsroot '" + root + "' run --dry-run --cpunodebind=rank:2 -- ls");
  CHECK(r.err == "tiermem run: --cpunodebind=rank:2: tier 'rank:2' has no CPUs (nodes 6,8,9 are memory "
                 "only); pick a tier with CPUs (see `tiermem hardware`)\n");
  r = t::refused_cli("--fsroot '" + root + "' run --dry-run -N 4 -- ls");
  CHECK(r.err.find("tiermem run: --cpunodebind=4: node 4 has no CPUs") == 0);
  r = t::refused_cli("run --dry-run -N emulated:slow -- ls", "TIERMEM_EMULATE=slow:1G");
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("tier 'emulated:slow' has no CPUs (it is not made of NUMA nodes)") != std::string::npos);
}

TEST_CASE("--physcpubind takes numactl's CPU lists and the child runs on them") {
  auto r = t::run_cli("run -C 0 -- sh -c 'grep Cpus_allowed_list /proc/self/status'");
  CHECK(r.status == 0);
  CHECK(r.out == "Cpus_allowed_list:\t0\n");
  r = t::run_cli("run --dry-run --physcpubind=all -- ls");
  CHECK(r.status == 0);
  CHECK(r.out.find("sched_setaffinity(cpus ") != std::string::npos);
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  r = t::run_cli("--fsroot '" + root + "' run --dry-run -C 0-2,5 -- ls");
  CHECK(r.out.find("sched_setaffinity(cpus 0-2,5)") != std::string::npos);
  r = t::run_cli("--fsroot '" + root + "' run --dry-run -C '!0-1' -- ls");
  CHECK(r.out.find("sched_setaffinity(cpus 2-5)") != std::string::npos);
  r = t::refused_cli("run --dry-run -C 0-99999 -- ls");
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("tiermem run: --physcpubind=0-99999: not a CPU list of CPUs this process may use") == 0);
}

TEST_CASE("conflicting placement options exit 2 with one line") {
  for (const char *flags : {"-m 0 -l", "-l --policy=rank:0", "-N 0 -C 0", "-p 0 -i 0"}) {
    const auto r = t::run_cli(std::string("run --dry-run ") + flags + " -- ls");
    INFO(flags);
    CHECK(r.status == 2);
    CHECK(r.out.empty());
    CHECK(lines(r.err) == 1);
    CHECK(r.err.find("tiermem run: give one of") == 0);
  }
}

TEST_CASE("a program that cannot be executed exits 126") {
  const auto r = t::run_cli("run -m 0 -- /etc/passwd");
  CHECK(r.status == 126);
  CHECK(r.err == "tiermem run: cannot run '/etc/passwd': Permission denied\n");
}

TEST_CASE("run --auto gives the preload library the migrating policy") {
  const std::string env = "TIERMEM_EMULATE=slow:1G";
  auto r = t::run_cli("run --dry-run --auto='0<=64M,emulated:slow' -- ls", env);
  INFO(r.err);
  CHECK(r.status == 0);
  CHECK(r.out.find("TIERMEM_POLICY='auto(node:0<=64M, emulated:slow)'") != std::string::npos);
  r = t::run_cli("run --dry-run --auto='rank:0<=1G,emulated:slow' -- ls", env);
  CHECK(r.out.find("TIERMEM_POLICY='auto(rank:0<=1G, emulated:slow)'") != std::string::npos);
}

TEST_CASE("run --auto refuses a malformed value, a missing budget and a policy the heap would refuse") {
  const std::string env = "TIERMEM_EMULATE=slow:1G";
  auto r = t::refused_cli("run --auto=rank:0,emulated:slow -- ls", env);
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("tiermem run: --auto=rank:0,emulated:slow: expected FAST<=SIZE,SLOW") == 0);
  r = t::refused_cli("run --auto='rank:0<=64M' -- ls", env);
  CHECK(r.err.find("expected FAST<=SIZE,SLOW") != std::string::npos);
  r = t::refused_cli("run --auto='rank:0<=64M,rank:0,emulated:slow' -- ls", env);
  CHECK(r.err.find("expected FAST<=SIZE,SLOW") != std::string::npos);
  r = t::refused_cli("run --auto= -- ls", env);
  CHECK(r.err.find("--auto needs a node list or a tier, e.g. --auto=rank:0<=1G,rank:1") != std::string::npos);
  // What the policy check says, before exec, under the flag's name.
  for (const char *bad : {"--auto='rank:0<=64M,rank:0'", "--auto='rank:0<=64P,emulated:slow'",
                          "--auto='emulated:slow<=1M,rank:0'", "--auto='rank:0<=64M,rank:7'"}) {
    r = t::run_cli(std::string("run ") + bad + " -- /bin/true", env);
    INFO(bad << ": " << r.err);
    CHECK(r.status == 2);
    CHECK(lines(r.err) == 1);
    CHECK(r.err.find("tiermem run: --auto=") == 0);
  }
}

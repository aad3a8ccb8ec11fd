// The command line as a whole: global options in either place, --version, help, and the
// exit codes of bad input.
#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "cli/cli_support.hpp"
#include "support.hpp"

namespace t = tiermem::test;
using t::lines;

TEST_CASE("global options work after the subcommand as before it") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  const auto before = t::run_cli("--fsroot '" + root + "' list --json");
  const auto after = t::run_cli("list --fsroot '" + root + "' --json");
  const auto last = t::run_cli("list --json --fsroot='" + root + "'");
  REQUIRE(before.status == 0);
  CHECK(after.status == 0);
  CHECK(after.out == before.out);
  CHECK(last.out == before.out);
  CHECK(nlohmann::json::parse(after.out)["tiers"][0]["kind"] == "HBM");
  const auto xml = t::fixture_file("hwloc/64intel64-heteromem.xml");
  CHECK(t::run_cli("list --hwloc-xml '" + xml + "'").err == t::run_cli("--hwloc-xml '" + xml + "' list").err);
}

TEST_CASE("a global option after run's options reaches run, and after -- the program") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  auto r = t::run_cli("run --dry-run --membind=rank:1 --fsroot '" + root + "' -- ls");
  CHECK(r.status == 0);
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_BIND, nodes 0,1) and exec: ls\n");
  r = t::run_cli("run --dry-run -m 0 -- echo --fsroot x");
  CHECK(r.out == "tiermem run: would set_mempolicy(MPOL_BIND, nodes 0) and exec: echo --fsroot x\n");
}

TEST_CASE("--version prints the project's version") {
  const auto r = t::run_cli("--version");
  CHECK(r.status == 0);
  CHECK(r.out == "tiermem " TIERMEM_VERSION "\n");
}

TEST_CASE("tiermem help SUBCOMMAND prints what SUBCOMMAND --help prints") {
  for (const char *sub : {"list", "run", "show", "hardware", "stat", "scrub", "badblocks", "online", "offline"}) {
    const auto help = t::run_cli(std::string("help ") + sub);
    const auto flag = t::run_cli(std::string(sub) + " --help");
    INFO(sub);
    CHECK(help.status == 0);
    CHECK(flag.status == 0);
    CHECK(help.out == flag.out);
    CHECK(help.out.find(std::string("Usage: tiermem ") + sub) != std::string::npos);
    CHECK(help.out.find("--fsroot DIR") != std::string::npos);  // the global options are named
  }
  CHECK(t::run_cli("help").out == t::run_cli("--help").out);
}

TEST_CASE("tiermem --help documents the exit codes") {
  const auto r = t::run_cli("--help");
  CHECK(r.status == 0);
  for (const char *code : {"\n  0 ", "\n  1 ", "\n  2 ", "\n  126 ", "\n  127 ", "\n  128+N "})
    CHECK(r.out.find(code) != std::string::npos);
  CHECK(r.out.find("before or after the subcommand") != std::string::npos);
}

TEST_CASE("an unknown subcommand exits 2 with one line") {
  auto r = t::refused_cli("lsit");
  CHECK(r.out.empty());
  CHECK(r.err == "tiermem: 'lsit' is not a tiermem command (see `tiermem help`)\n");
  r = t::refused_cli("help lsit");
  CHECK(r.err == "tiermem help: 'lsit' is not a tiermem command (see `tiermem help`)\n");
  r = t::refused_cli("");
  CHECK(lines(r.err) == 1);
}

TEST_CASE("an unknown option or a stray argument exits 2 with one line naming it") {
  auto r = t::refused_cli("list --bogus");
  CHECK(r.out.empty());
  CHECK(r.err == "tiermem list: unknown option --bogus (see `tiermem list --help`)\n");
  r = t::refused_cli("--bogus list");
  CHECK(lines(r.err) == 1);
  CHECK(r.err.find("--bogus") != std::string::npos);
  r = t::refused_cli("list extra");
  CHECK(r.err == "tiermem list: unexpected argument 'extra' (see `tiermem list --help`)\n");
  r = t::refused_cli("list --fsroot");
  CHECK(lines(r.err) == 1);
}

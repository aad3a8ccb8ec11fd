// The bash completion file, sourced in bash and its function called as bash would call it.
#include <doctest/doctest.h>

#include <set>
#include <sstream>

#include "support.hpp"

namespace t = tiermem::test;

namespace {

// COMPREPLY for the command line `words` (the last word is the one being completed).
std::set<std::string> complete(const std::string &words, const std::string &env = "") {
  const auto r = t::run_command(env + " bash -c 'source " TIERMEM_COMPLETION
                                      "; COMP_WORDS=(\"$@\"); COMP_CWORD=$(($# - 1)); _tiermem; "
                                      "printf \"%s\\n\" \"${COMPREPLY[@]}\"' bash " TIERMEM_CLI " " + words);
  REQUIRE(r.status == 0);
  std::set<std::string> out;
  std::istringstream in(r.out);
  for (std::string line; std::getline(in, line);)
    if (!line.empty()) out.insert(line);
  return out;
}

}  // namespace

TEST_CASE("completion offers the subcommands") {
  const auto all = complete("''");
  for (const char *sub : {"list", "run", "show", "hardware", "stat", "help", "scrub"}) CHECK(all.count(sub) == 1);
  CHECK(complete("h") == std::set<std::string>{"hardware", "help"});
  CHECK(complete("help r") == std::set<std::string>{"run"});
}

TEST_CASE("completion offers a subcommand's options and the global ones") {
  CHECK(complete("run --mem") == std::set<std::string>{"--membind"});
  const auto run = complete("run -");
  for (const char *opt : {"-m", "-N", "-C", "-l", "--localalloc", "--physcpubind", "--fsroot", "--dry-run"})
    CHECK(run.count(opt) == 1);
  CHECK(complete("list --") == std::set<std::string>{"--help", "--json", "--fsroot", "--hwloc-xml"});
  CHECK(complete("--v") == std::set<std::string>{"--version"});
}

TEST_CASE("completion offers tier specs from tiermem list --json where a tier goes") {
  CHECK(complete("run --membind ''") == std::set<std::string>{"rank:0", "node:0", "kind:dram"});
  CHECK(complete("run -m r") == std::set<std::string>{"rank:0"});
  CHECK(complete("run --membind = r") == std::set<std::string>{"rank:0"});  // --membind=r
  CHECK(complete("run --interleave rank:0,e", "TIERMEM_EMULATE=slow:1G") ==
        std::set<std::string>{"rank:0,emulated:slow"});
}

TEST_CASE("completion reads the tiers of the machine the command line names") {
  const std::string root = t::machine("hwloc/fakeheteromemtiers");
  const auto specs = complete("--fsroot '" + root + "' run -N rank:");
  CHECK(specs == std::set<std::string>{"rank:0", "rank:1", "rank:2", "rank:3", "rank:4", "rank:5"});
  CHECK(complete("run --fsroot '" + root + "' -p dax:dax0").count("dax:dax0.0") == 1);
}

TEST_CASE("after run's -- completion leaves the words to the program") {
  const auto r = complete("run -m 0 -- ech");
  CHECK(r.count("echo") == 1);
  CHECK(r.count("--membind") == 0);
}

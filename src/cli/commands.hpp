// Subcommands of the `tiermem` tool. Each register_* adds one subcommand to the app; the
// callback it installs runs the command and returns the process exit status through
// `Exit`. Exit codes (printed by `tiermem --help`, see main.cpp): 0 success, 1 an internal
// error or a check that found a problem, 2 bad input; `run` adds 126, 127 and 128+N.
#pragma once
#include <CLI/CLI.hpp>

namespace tiermem::cli {

/** Thrown by a command to end the process with `status` after printing `message` to stderr. */
struct Exit {
  int status;
};

/** Options every subcommand shares (`--fsroot`, `--hwloc-xml`). */
struct Global {
  std::string fsroot;
  std::string hwloc_xml;
};

void register_list(CLI::App &app, Global &global);
/** `hardware`: the tiers, their nodes, sizes, free memory, CPUs and the distances. */
void register_hardware(CLI::App &app, Global &global);
/** `show`: the policy, CPUs and tiers this process would run under. */
void register_show(CLI::App &app, Global &global);
/** `stat PID`: a running program's memory by tier. */
void register_stat(CLI::App &app, Global &global);
void register_run(CLI::App &app, Global &global);
void register_badblocks(CLI::App &app, Global &global);
void register_scrub(CLI::App &app, Global &global);
/** `online` and `offline`. */
void register_online(CLI::App &app, Global &global);

}  // namespace tiermem::cli

// The `tiermem` command as a function: main() is one call to it, and the fuzz target
// (tests/fuzz/fuzz_cli.cpp) parses command lines in-process through it.
#pragma once

namespace tiermem::cli {

/** What run_cli() does once the command line is parsed. */
enum class Then {
  run,         ///< run the chosen subcommand (the `tiermem` program)
  only_parse,  ///< stop after parsing and checking: no subcommand runs (fuzzing)
};

/**
 * The whole command line: builds every subcommand, parses argv (argv[0] is the program) and
 * runs the chosen one. Returns the exit status: 0 success, 1 the command found a problem,
 * 2 bad input, or the subcommand's own status. Usage errors and help go to stderr/stdout.
 */
int run_cli(int argc, char **argv, Then then = Then::run);

}  // namespace tiermem::cli

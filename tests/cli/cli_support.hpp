// What the command tests share beyond tests/support.hpp: a bad input's run.
#pragma once
#include <doctest/doctest.h>

#include <string>

#include "support.hpp"

namespace tiermem::test {

/**
 * Runs `tiermem ARGS` as a bad input: checks that it exits 2 (the code for a usage error,
 * tiermem(1)) and hands the run back for the checks of its message.
 */
inline Run refused_cli(const std::string &args, const std::string &env = "") {
  Run r = run_cli(args, env);
  CHECK(r.status == 2);
  return r;
}

}  // namespace tiermem::test

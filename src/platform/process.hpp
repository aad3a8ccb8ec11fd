// Who this process is, for lines that several processes of one job write to the same stderr.
#pragma once
#include <string>

namespace tiermem::platform {

/**
 * The program's name as ps and top show it (/proc/self/comm: the executable's or script's
 * file name, at most 15 characters); glibc's program_invocation_short_name where /proc is
 * not mounted.
 */
std::string command_name();

}  // namespace tiermem::platform

// The `tiermem` command line, parsed in-process (cli/app.hpp, Then::only_parse: no subcommand
// runs): the input's lines are the arguments. Every command line is taken or refused as bad
// input (status 2), never anything else.
#include <vector>

#include "cli/app.hpp"
#include "fuzz.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t *data, std::size_t size) {
  std::vector<std::string> args{"tiermem"};
  const std::string_view in = fuzz::text(data, size);
  for (std::size_t pos = 0; pos <= in.size() && args.size() < 64;) {
    std::size_t end = in.find('\n', pos);
    if (end == std::string_view::npos) end = in.size();
    std::string a(in.substr(pos, end - pos));
    args.push_back(a.substr(0, a.find('\0')));
    pos = end + 1;
  }
  std::vector<char *> argv;
  for (auto &a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  const int rc = tiermem::cli::run_cli(static_cast<int>(args.size()), argv.data(),
                                       tiermem::cli::Then::only_parse);
  FUZZ_CHECK(rc == 0 || rc == 2);
  return 0;
}

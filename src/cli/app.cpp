#include "cli/app.hpp"

#include <cstdio>
#include <exception>

#include "cli/commands.hpp"
#include "tiermem/error.hpp"

namespace tiermem::cli {

int run_cli(int argc, char **argv, Then then) {
  CLI::App app{"tiermem: put a program's data on the right kind of memory"};
  app.require_subcommand(1);
  Global global;
  app.add_option("--fsroot", global.fsroot,
                 "read sysfs and hwloc from a recorded machine rooted at DIR (else TIERMEM_FSROOT)")
      ->type_name("DIR");
  app.add_option("--hwloc-xml", global.hwloc_xml, "read the topology from an hwloc XML file")
      ->type_name("FILE");

  register_list(app, global);
  register_run(app, global);
  register_badblocks(app, global);
  register_scrub(app, global);
  register_online(app, global);

  // The subcommands run from their callbacks at the end of app.parse(), after the app's own
  // parse-complete callback: stopping there, every option is parsed and checked, and nothing
  // is read, run or changed. (The callbacks stay in place: they own the options' variables.)
  struct Parsed {};
  if (then == Then::only_parse) app.parse_complete_callback([] { throw Parsed{}; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError &e) {
    // CLI11 prints usage errors itself; they are bad input (2), help is success (0).
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  } catch (const Parsed &) {
    return 0;
  } catch (const Exit &e) {
    return e.status;
  } catch (const tiermem::Error &e) {
    std::fprintf(stderr, "%s\n", e.what());
    return 2;
  } catch (const std::exception &e) {
    std::fprintf(stderr, "tiermem: %s\n", e.what());
    return 1;
  }
  return 0;
}

}  // namespace tiermem::cli

#include "cli/app.hpp"

#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <string>

#include "cli/commands.hpp"
#include "tiermem/error.hpp"

namespace tiermem::cli {
namespace {

// One place for the exit codes: `tiermem --help` prints them, commands.hpp names them.
constexpr const char *kExitStatus =
    "\nGlobal options may be given before or after the subcommand.\n"
    "\nExit status:\n"
    "  0        success\n"
    "  1        an internal error, or a check that found a problem (badblocks, scrub)\n"
    "  2        bad input: an unknown command or option, a bad value, a missing tier\n"
    "  126      run: the program was found but could not be executed\n"
    "  127      run: the program was not found\n"
    "  128+N    run: the program died of signal N\n"
    "  other    run: the program's own exit status\n"
    "  130      scrub, online: interrupted\n";

constexpr const char *kGlobalFooter =
    "\nGlobal options, accepted here too: --fsroot DIR, --hwloc-xml FILE "
    "(see `tiermem --help`).";

// The subcommand a parse selected, for messages; "" when none was.
std::string chosen(const CLI::App &app) {
  for (const CLI::App *sub : app.get_subcommands()) return sub->get_name();
  return "";
}

// The first word that is neither an option nor a global option's value: the subcommand.
// Checked before CLI11 parses, which would otherwise answer "A subcommand is required".
const char *subcommand_word(int argc, char **argv) {
  for (int i = 1; i < argc; ++i) {
    const char *a = argv[i];
    if (std::strcmp(a, "--fsroot") == 0 || std::strcmp(a, "--hwloc-xml") == 0) {
      ++i;
      continue;
    }
    if (a[0] == '-') continue;
    return a;
  }
  return nullptr;
}

// `tiermem help [SUBCOMMAND]`: the very text `tiermem [SUBCOMMAND] --help` prints.
void register_help(CLI::App &app) {
  auto *cmd = app.add_subcommand("help", "print the help of tiermem or of one subcommand");
  auto topic = std::make_shared<std::string>();
  cmd->add_option("subcommand", *topic, "the subcommand whose help to print")->type_name("SUBCOMMAND");
  cmd->callback([&app, topic] {
    if (topic->empty()) {
      std::printf("%s", app.get_formatter()->make_help(&app, app.get_name(), CLI::AppFormatMode::Normal).c_str());
      throw Exit{0};
    }
    const auto found = app.get_subcommands([&](CLI::App *s) { return s->check_name(*topic); });
    if (found.empty()) {
      std::fprintf(stderr, "tiermem help: '%s' is not a tiermem command (see `tiermem help`)\n", topic->c_str());
      throw Exit{2};
    }
    CLI::App *sub = found.front();
    std::printf("%s", sub->get_formatter()->make_help(sub, app.get_name() + " " + sub->get_name(),
                                                        CLI::AppFormatMode::Normal).c_str());
    throw Exit{0};
  });
}

}  // namespace

int run_cli(int argc, char **argv, Then then) {
  CLI::App app{"tiermem: put a program's data on the right kind of memory"};
  app.name("tiermem");
  app.require_subcommand(1);
  // Options a subcommand does not know are offered to the app: the global ones then work
  // after the subcommand too (`tiermem list --fsroot DIR`). Inherited by the subcommands.
  app.fallthrough();
  app.set_version_flag("--version", "tiermem " TIERMEM_VERSION, "print the version and exit");
  app.footer(kExitStatus);
  Global global;
  app.add_option("--fsroot", global.fsroot,
                 "read sysfs and hwloc from a recorded machine rooted at DIR (else TIERMEM_FSROOT)")
      ->type_name("DIR");
  app.add_option("--hwloc-xml", global.hwloc_xml, "read the topology from an hwloc XML file")
      ->type_name("FILE");

  register_list(app, global);
  register_hardware(app, global);
  register_show(app, global);
  register_run(app, global);
  register_stat(app, global);
  register_badblocks(app, global);
  register_scrub(app, global);
  register_online(app, global);
  for (CLI::App *sub : app.get_subcommands({})) sub->footer(kGlobalFooter);
  register_help(app);

  if (const char *word = subcommand_word(argc, argv);
      word != nullptr && app.get_subcommands([word](CLI::App *s) { return s->check_name(word); }).empty()) {
    std::fprintf(stderr, "tiermem: '%s' is not a tiermem command (see `tiermem help`)\n", word);
    return 2;
  }
  // The subcommands run from their callbacks at the end of app.parse(), after the app's own
  // parse-complete callback: stopping there, every option is parsed and checked, and nothing
  // is read, run or changed. (The callbacks stay in place: they own the options' variables.)
  struct Parsed {};
  if (then == Then::only_parse) app.parse_complete_callback([] { throw Parsed{}; });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError &) {
    // CLI11's message lists every stray word, reversed; the first one is what to fix.
    const std::string sub = chosen(app);
    const auto left = app.remaining();
    const std::string word = left.empty() ? "?" : left.front();
    const std::string who = sub.empty() ? "tiermem" : "tiermem " + sub;
    if (word.size() > 1 && word[0] == '-')
      std::fprintf(stderr, "%s: unknown option %s (see `%s --help`%s)\n", who.c_str(), word.c_str(),
                   who.c_str(), sub == "run" ? "; the program and its arguments go after --" : "");
    else
      std::fprintf(stderr, "%s: unexpected argument '%s' (see `%s --help`)\n", who.c_str(),
                   word.c_str(), who.c_str());
    return 2;
  } catch (const CLI::ParseError &e) {
    // Help and version are success (0); the rest is bad input (2), said in one line.
    if (e.get_exit_code() == 0) return app.exit(e);
    const std::string sub = chosen(app);
    std::fprintf(stderr, "tiermem%s%s: %s (see `tiermem%s%s --help`)\n", sub.empty() ? "" : " ",
                 sub.c_str(), e.what(), sub.empty() ? "" : " ", sub.c_str());
    return 2;
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

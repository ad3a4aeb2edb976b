// memtrace: the command-line analyzer. Each subcommand lives in analyzer/commands/.
#include <fmt/core.h>

#include <CLI/CLI.hpp>

#include "analyzer/commands/command.h"

using namespace memtrace::analyzer;

int main(int argc, char** argv) {
  CLI::App app{"memtrace: where does a program's memory go? Trace it, then ask."};
  app.require_subcommand(0, 1);  // a missing command is reported below, a misspelt one by CLI11 by name
  app.set_version_flag("--version", "memtrace 0.1.0");

  CommandAction action;
  AddRunCommand(app, &action);
  AddSummaryCommand(app, &action);
  AddCallsCommand(app, &action);
  AddBrkCommand(app, &action);
  AddLeaksCommand(app, &action);
  AddMapsCommand(app, &action);
  AddReplayCommand(app, &action);
  AddHtmlCommand(app, &action);
  AddDiffCommand(app, &action);
  AddExportCommand(app, &action);
  AddPackCommand(app, &action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "memtrace: error: {}; see memtrace --help\n", e.what());
    return kExitUsage;
  }
  if (!action) {
    fmt::print(
        stderr,
        "memtrace: error: no subcommand given (run, summary, calls, brk, leaks); see memtrace --help\n");
    return kExitUsage;
  }
  return action();
}

// How a subcommand plugs into the memtrace CLI: each commands/*.cc adds its CLI11 subcommand and,
// when that subcommand is chosen, sets the action main() runs after parsing.
//
// Exit codes shared by all commands: 0 success, 1 unreadable or corrupt input, 2 bad usage,
// 3 a check the user asked for failed (leaks --fail-on, diff --fail-above).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

namespace memtrace::analyzer {

using CommandAction = std::function<int()>;

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitCheckFailed = 3;

// The arguments every trace-reading command takes.
struct TraceArguments {
  std::string path;
  bool json = false;
};

// Adds subcommand `name` with a required TRACE argument and --json; `arguments` must outlive parsing.
inline CLI::App* AddTraceCommand(CLI::App& app, const char* name, const char* description,
                                 TraceArguments& arguments) {
  CLI::App* command = app.add_subcommand(name, description);
  command->add_option("trace", arguments.path, "trace file (.mtr)")->required();
  command->add_flag("--json", arguments.json, "print JSON with stable keys");
  return command;
}

// Makes `command`, when parsed, set *action to run `body` with its parsed arguments.
template <typename Arguments>
void OnChosen(CLI::App* command, CommandAction* action, std::shared_ptr<Arguments> arguments,
              int (*body)(const Arguments&)) {
  command->callback([action, arguments, body] { *action = [arguments, body] { return body(*arguments); }; });
}

void AddRunCommand(CLI::App& app, CommandAction* action);
void AddSummaryCommand(CLI::App& app, CommandAction* action);
void AddCallsCommand(CLI::App& app, CommandAction* action);
void AddBrkCommand(CLI::App& app, CommandAction* action);
void AddLeaksCommand(CLI::App& app, CommandAction* action);
void AddMapsCommand(CLI::App& app, CommandAction* action);
void AddReplayCommand(CLI::App& app, CommandAction* action);
void AddHtmlCommand(CLI::App& app, CommandAction* action);
void AddDiffCommand(CLI::App& app, CommandAction* action);
void AddExportCommand(CLI::App& app, CommandAction* action);
void AddPackCommand(CLI::App& app, CommandAction* action);

}  // namespace memtrace::analyzer

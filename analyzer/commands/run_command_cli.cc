// memtrace run [-o FILE] [--no-stacks] [--no-pack] [--json] -- PROG ARGS...
#include "analyzer/commands/command.h"
#include "analyzer/run_command.h"

namespace memtrace::analyzer {

namespace {

struct RunArguments {
  RunOptions options;
  bool no_stacks = false;
  bool no_pack = false;
};

int Run(const RunArguments& args) {
  RunOptions options = args.options;
  options.stacks = !args.no_stacks;
  options.pack = !args.no_pack;
  return RunTraced(options);
}

}  // namespace

void AddRunCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<RunArguments>();
  CLI::App* run =
      app.add_subcommand("run", "run a program traced, keep its output and exit code, print a summary");
  run->add_option("-o,--output", args->options.output,
                  "trace file for the program (default memtrace.PROG.PID.mtr)");
  run->add_flag("--no-stacks", args->no_stacks, "record no call stacks (lowest overhead)");
  run->add_flag("--no-pack", args->no_pack, "keep the raw traces (default: pack them when the program ends)");
  run->add_flag("--json", args->options.json, "print the closing summary as JSON");
  run->add_option("command", args->options.command, "-- PROG ARGS...")->required();
  OnChosen(run, action, args, Run);
}

}  // namespace memtrace::analyzer

// memtrace: the command-line analyzer. Each subcommand is one pass over a trace feeding the consumers
// its report needs.
#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "analyzer/brk_report.h"
#include "analyzer/calls_report.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/run_command.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"
#include "analyzer/trace_summary.h"

using namespace memtrace::analyzer;

namespace {

struct TraceArguments {
  std::string path;
  bool json = false;
};

CLI::App* AddTraceCommand(CLI::App& app, const char* name, const char* description, TraceArguments& args) {
  CLI::App* command = app.add_subcommand(name, description);
  command->add_option("trace", args.path, "trace file (.mtr)")->required();
  command->add_flag("--json", args.json, "print JSON with stable keys");
  return command;
}

int Summary(const TraceArguments& args) {
  TraceSummary summary;
  LeakClasses classes;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary, &classes}, &info)) return 1;
  LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
  const LeakAnalysis* scanned = classes.scanned() ? &leaks : nullptr;
  args.json ? PrintSummaryJson(stdout, info, summary, scanned) : PrintSummaryText(stdout, info, summary, scanned);
  return 0;
}

int Calls(const TraceArguments& args) {
  TraceInfo info;
  CallsReport report(stdout, args.json);
  return ReadTrace(args.path, {&report}, &info) ? 0 : 1;
}

int Break(const TraceArguments& args) {
  TraceSummary summary;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary}, &info)) return 1;
  args.json ? PrintBreakJson(stdout, info, summary.brk()) : PrintBreakText(stdout, info, summary.brk());
  return 0;
}

struct LeakArguments : TraceArguments {
  std::string show = "definite,indirect";
  std::string fail_on;
};

// Exit code when --fail-on finds leaks of a named class (distinct from 1, an unreadable trace).
constexpr int kLeaksFound = 3;

int Leaks(const LeakArguments& args) {
  LeakPrintOptions options;
  std::vector<LeakClass> fail_on;
  std::string error;
  if (!ParseLeakClasses(args.show, &options.show, &error) || !ParseLeakClasses(args.fail_on, &fail_on, &error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return 2;
  }
  TraceSummary summary;
  StackStore stacks;
  LeakClasses classes;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary, &stacks, &classes}, &info)) return 1;
  LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
  Symbolizer symbolizer(stacks.modules());
  args.json ? PrintLeaksJson(stdout, info, leaks, classes, options, stacks, symbolizer)
            : PrintLeaksText(stdout, info, leaks, classes, options, stacks, symbolizer);
  for (LeakClass c : fail_on) {
    if (leaks.Totals(c).blocks) return kLeaksFound;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"memtrace: where does a program's memory go? Trace it, then ask."};
  app.require_subcommand(0, 1);  // a missing command is reported below, a misspelt one by CLI11 by name
  app.set_version_flag("--version", "memtrace 0.1.0");

  RunOptions run_options;
  bool no_stacks = false;
  CLI::App* run = app.add_subcommand("run", "run a program traced, keep its output and exit code, print a summary");
  run->add_option("-o,--output", run_options.output, "trace file for the program (default memtrace.PROG.PID.mtr)");
  run->add_flag("--no-stacks", no_stacks, "record no call stacks (lowest overhead)");
  run->add_flag("--json", run_options.json, "print the closing summary as JSON");
  run->add_option("command", run_options.command, "-- PROG ARGS...")->required();

  TraceArguments summary_args, calls_args, brk_args;
  LeakArguments leaks_args;
  CLI::App* summary = AddTraceCommand(app, "summary", "calls, heap/mmap verdicts, break, leaks at a glance", summary_args);
  CLI::App* calls = AddTraceCommand(app, "calls", "every call: thread, kind, size, result, heap/mmap verdict, break move", calls_args);
  CLI::App* brk = AddTraceCommand(app, "brk", "the program-break timeline and the call behind each move", brk_args);
  CLI::App* leaks = AddTraceCommand(app, "leaks", "blocks still allocated at exit, by class and stack, largest first", leaks_args);
  leaks->add_option("--show", leaks_args.show, "classes to list: definite,indirect,possible,reachable or all")
      ->capture_default_str();
  leaks->add_option("--fail-on", leaks_args.fail_on, "exit 3 if leaks of these classes remain (e.g. definite)");

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    fmt::print(stderr, "memtrace: error: {}; see memtrace --help\n", e.what());
    return 2;
  }

  if (*run) {
    run_options.stacks = !no_stacks;
    return RunTraced(run_options);
  }
  if (*summary) return Summary(summary_args);
  if (*calls) return Calls(calls_args);
  if (*brk) return Break(brk_args);
  if (*leaks) return Leaks(leaks_args);
  fmt::print(stderr, "memtrace: error: no subcommand given (run, summary, calls, brk, leaks); see memtrace --help\n");
  return 2;
}

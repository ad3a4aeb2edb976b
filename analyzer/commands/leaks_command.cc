// memtrace leaks: the blocks live at exit in valgrind's four classes, with symbolized stacks.
#include <fmt/core.h>

#include "analyzer/commands/command.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/stack_store.h"
#include "analyzer/suppressions.h"
#include "analyzer/symbolizer.h"
#include "analyzer/time_point.h"
#include "analyzer/trace_pass.h"
#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

namespace {

struct LeakArguments : TraceArguments {
  std::string show = "definite,indirect";
  std::string fail_on;
  std::string at = "end";  // --at: the blocks live at that moment instead of at exit
  std::vector<std::string> suppressions;
  bool no_default_suppressions = false;
};

int Leaks(const LeakArguments& args) {
  LeakPrintOptions options;
  std::vector<LeakClass> fail_on;
  std::string error;
  if (!ParseLeakClasses(args.show, &options.show, &error) ||
      !ParseLeakClasses(args.fail_on, &fail_on, &error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return kExitUsage;
  }
  Suppressions suppressions = args.no_default_suppressions ? Suppressions() : Suppressions::BuiltIn();
  for (const std::string& file : args.suppressions) {
    if (!suppressions.AddFile(file, &error)) {
      fmt::print(stderr, "memtrace: error: {}\n", error);
      return kExitUsage;
    }
  }
  TraceSummary summary;
  StackStore stacks;
  LeakClasses classes;
  TraceInfo info;
  bool usage_error = false;
  if (!ReadTraceAt(args.path, args.at, {&summary, &classes}, &info, &usage_error, {&stacks})) {
    return usage_error ? kExitUsage : kExitBadInput;
  }
  LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
  Symbolizer symbolizer(stacks.modules());
  ApplySuppressions(suppressions, stacks, symbolizer, &leaks);
  args.json ? PrintLeaksJson(stdout, info, leaks, classes, options, stacks, symbolizer)
            : PrintLeaksText(stdout, info, leaks, classes, options, stacks, symbolizer);
  for (LeakClass c : fail_on) {
    if (leaks.Totals(c).blocks) return kExitCheckFailed;
  }
  return kExitOk;
}

}  // namespace

void AddLeaksCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<LeakArguments>();
  CLI::App* leaks = AddTraceCommand(
      app, "leaks", "blocks still allocated at exit, by class and stack, largest first", *args);
  leaks->add_option("--show", args->show, "classes to list: definite,indirect,possible,reachable or all")
      ->capture_default_str();
  leaks->add_option("--fail-on", args->fail_on, "exit 3 if leaks of these classes remain (e.g. definite)");
  leaks->add_option("--suppressions", args->suppressions,
                    "a file of leak:PATTERN lines hiding known leaks (repeatable)");
  leaks->add_flag("--no-default-suppressions", args->no_default_suppressions,
                  "do not hide libc's, libstdc++'s and the loader's own start-up allocations");
  leaks->add_option("--at", args->at, "blocks live at T: 123456789ns, 1.5s, 50%, peak or end")
      ->capture_default_str();
  OnChosen(leaks, action, args, Leaks);
}

}  // namespace memtrace::analyzer

// memtrace leaks: the blocks live at exit in valgrind's four classes, with symbolized stacks.
#include <fmt/core.h>

#include "analyzer/commands/command.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"
#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

namespace {

struct LeakArguments : TraceArguments {
  std::string show = "definite,indirect";
  std::string fail_on;
};

int Leaks(const LeakArguments& args) {
  LeakPrintOptions options;
  std::vector<LeakClass> fail_on;
  std::string error;
  if (!ParseLeakClasses(args.show, &options.show, &error) || !ParseLeakClasses(args.fail_on, &fail_on, &error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return kExitUsage;
  }
  TraceSummary summary;
  StackStore stacks;
  LeakClasses classes;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary, &stacks, &classes}, &info)) return kExitBadInput;
  LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
  Symbolizer symbolizer(stacks.modules());
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
  CLI::App* leaks =
      AddTraceCommand(app, "leaks", "blocks still allocated at exit, by class and stack, largest first", *args);
  leaks->add_option("--show", args->show, "classes to list: definite,indirect,possible,reachable or all")
      ->capture_default_str();
  leaks->add_option("--fail-on", args->fail_on, "exit 3 if leaks of these classes remain (e.g. definite)");
  OnChosen(leaks, action, args, Leaks);
}

}  // namespace memtrace::analyzer

// summary, calls, brk: one pass over a trace each, feeding the consumers the report needs.
#include "analyzer/brk_report.h"
#include "analyzer/calls_report.h"
#include "analyzer/commands/command.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/site_report.h"
#include "analyzer/site_statistics.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/time_point.h"
#include "analyzer/trace_pass.h"
#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

namespace {

struct SummaryArguments : TraceArguments {
  std::string at = "end";  // --at: the trace as it stood then
  size_t top = 5;          // sites per section
};

int Summary(const SummaryArguments& args) {
  TraceSummary summary;
  LeakClasses classes;
  SiteStatistics sites(&summary.heap());  // applied before the summary's heap, as it requires
  StackStore stacks;
  TraceInfo info;
  bool usage_error = false;
  if (!ReadTraceAt(args.path, args.at, {&sites, &summary, &classes}, &info, &usage_error, {&stacks})) {
    return usage_error ? kExitUsage : kExitBadInput;
  }
  LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
  const LeakAnalysis* scanned = classes.scanned() ? &leaks : nullptr;
  Symbolizer symbolizer(stacks.modules());
  std::vector<SiteNumbers> numbers = sites.Sites();
  if (args.json) {
    PrintSummaryJson(stdout, info, summary, scanned, [&](JsonWriter& json) {
      PrintSiteSectionsJson(json, numbers, stacks, symbolizer, args.top);
    });
  } else {
    PrintSummaryText(stdout, info, summary, scanned);
    PrintSiteSectionsText(stdout, numbers, stacks, symbolizer, args.top);
  }
  return kExitOk;
}

int Calls(const TraceArguments& args) {
  TraceInfo info;
  CallsReport report(stdout, args.json);
  return ReadTrace(args.path, {&report}, &info) ? kExitOk : kExitBadInput;
}

int Break(const TraceArguments& args) {
  TraceSummary summary;
  StackStore stacks;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary, &stacks}, &info)) return kExitBadInput;
  Symbolizer symbolizer(stacks.modules());
  args.json ? PrintBreakJson(stdout, info, summary.brk(), stacks, symbolizer)
            : PrintBreakText(stdout, info, summary.brk(), stacks, symbolizer);
  return kExitOk;
}

}  // namespace

void AddSummaryCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<SummaryArguments>();
  CLI::App* summary =
      AddTraceCommand(app, "summary", "calls, heap/mmap verdicts, break, leaks at a glance", *args);
  summary->add_option("--at", args->at, "the trace as it stood at T: 123456789ns, 1.5s, 50%, peak or end")
      ->capture_default_str();
  summary->add_option("--top", args->top, "sites listed per section (0: none)")->capture_default_str();
  OnChosen(summary, action, args, Summary);
}

void AddCallsCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<TraceArguments>();
  OnChosen(AddTraceCommand(app, "calls",
                           "every call: thread, kind, size, result, heap/mmap verdict, break move", *args),
           action, args, Calls);
}

void AddBrkCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<TraceArguments>();
  OnChosen(AddTraceCommand(app, "brk", "the program-break timeline and the call behind each move", *args),
           action, args, Break);
}

}  // namespace memtrace::analyzer

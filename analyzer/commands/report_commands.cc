// summary, calls, brk: one pass over a trace each, feeding the consumers the report needs.
#include "analyzer/brk_report.h"
#include "analyzer/calls_report.h"
#include "analyzer/commands/command.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/trace_pass.h"
#include "analyzer/trace_summary.h"

namespace memtrace::analyzer {

namespace {

int Summary(const TraceArguments& args) {
  TraceSummary summary;
  LeakClasses classes;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary, &classes}, &info)) return kExitBadInput;
  LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
  const LeakAnalysis* scanned = classes.scanned() ? &leaks : nullptr;
  args.json ? PrintSummaryJson(stdout, info, summary, scanned) : PrintSummaryText(stdout, info, summary, scanned);
  return kExitOk;
}

int Calls(const TraceArguments& args) {
  TraceInfo info;
  CallsReport report(stdout, args.json);
  return ReadTrace(args.path, {&report}, &info) ? kExitOk : kExitBadInput;
}

int Break(const TraceArguments& args) {
  TraceSummary summary;
  TraceInfo info;
  if (!ReadTrace(args.path, {&summary}, &info)) return kExitBadInput;
  args.json ? PrintBreakJson(stdout, info, summary.brk()) : PrintBreakText(stdout, info, summary.brk());
  return kExitOk;
}

}  // namespace

void AddSummaryCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<TraceArguments>();
  OnChosen(AddTraceCommand(app, "summary", "calls, heap/mmap verdicts, break, leaks at a glance", *args), action,
           args, Summary);
}

void AddCallsCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<TraceArguments>();
  OnChosen(AddTraceCommand(app, "calls", "every call: thread, kind, size, result, heap/mmap verdict, break move",
                           *args),
           action, args, Calls);
}

void AddBrkCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<TraceArguments>();
  OnChosen(AddTraceCommand(app, "brk", "the program-break timeline and the call behind each move", *args), action,
           args, Break);
}

}  // namespace memtrace::analyzer

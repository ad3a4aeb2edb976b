// memtrace html TRACE -o report.html: one self-contained page with the memory timeline, sites, leaks
// and a flame graph, aggregated in one pass so its size does not grow with the trace.
#include <fmt/core.h>

#include "analyzer/commands/command.h"
#include "analyzer/html/html_report.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/memory_profile.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

namespace {

struct HtmlArguments {
  std::string path;
  std::string output;
};

int Html(const HtmlArguments& args) {
  MemoryProfile profile;
  StackStore stacks;
  LeakClasses classes;
  TraceInfo info;
  if (!ReadTrace(args.path, {&profile, &stacks, &classes}, &info)) return kExitBadInput;
  profile.Finish();
  LeakAnalysis leaks = AnalyzeLeaks(profile.heap(), classes);
  Symbolizer symbolizer(stacks.modules());
  std::string error;
  if (!WriteHtmlReport(args.output, info, profile, leaks, classes.scanned(), stacks, symbolizer, &error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return kExitBadInput;
  }
  return kExitOk;
}

}  // namespace

void AddHtmlCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<HtmlArguments>();
  CLI::App* html =
      app.add_subcommand("html", "a self-contained HTML report: timeline, sites, leaks, flame graph");
  html->add_option("trace", args->path, "trace file (.mtr)")->required();
  html->add_option("-o,--output", args->output, "the HTML file to write")->required();
  OnChosen(html, action, args, Html);
}

}  // namespace memtrace::analyzer

// memtrace maps TRACE [--at T|end] [--timeline] [--verify] [--json]
#include <fmt/core.h>

#include "analyzer/commands/command.h"
#include "analyzer/maps_report.h"
#include "analyzer/maps_timeline.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/time_point.h"

namespace memtrace::analyzer {

namespace {

struct MapsArguments : TraceArguments {
  std::string at = "end";
  bool timeline = false;
  bool verify = false;
  bool show_memtrace = false;
};

int Maps(const MapsArguments& args) {
  MapsPrintOptions options;
  options.timeline = args.timeline;
  options.verify = args.verify;
  options.show_memtrace = args.show_memtrace;
  MapsTimeline maps;
  StackStore stacks;
  TraceInfo info;
  bool usage_error = false;
  const std::string& at = args.at;
  if (!ReadTraceAt(args.path, at, {&maps}, &info, &usage_error, {&stacks})) {
    return usage_error ? kExitUsage : kExitBadInput;
  }
  options.at_ns = info.last_timestamp > info.header.start_monotonic_ns
                      ? info.last_timestamp - info.header.start_monotonic_ns
                      : 0;
  if (args.json) {
    PrintMapsJson(stdout, info, maps, options);
  } else {
    Symbolizer symbolizer(stacks.modules());
    PrintMapsText(stdout, info, maps, options, stacks, symbolizer);
  }
  bool differs = args.verify && (!maps.verification().done || !maps.verification().differences.empty());
  return differs ? kExitCheckFailed : kExitOk;
}

}  // namespace

void AddMapsCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<MapsArguments>();
  CLI::App* maps =
      AddTraceCommand(app, "maps", "the mappings at a moment, as pmap shows them, with their origin", *args);
  maps->add_option("--at", args->at, "a moment: end, 1.5s, 250ms, 50%, peak")->capture_default_str();
  maps->add_flag("--timeline", args->timeline, "list every birth, resize, protection change and death");
  maps->add_flag(
      "--verify", args->verify,
      "compare the reconstruction with the process's own /proc/self/maps at exit (exit 3 if they differ)");
  maps->add_flag("--show-memtrace", args->show_memtrace, "list memtrace's own mappings too");
  OnChosen(maps, action, args, Maps);
}

}  // namespace memtrace::analyzer

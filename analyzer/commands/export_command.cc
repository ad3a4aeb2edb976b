// memtrace export: the trace in another tool's format (pprof, Chrome/Perfetto, flame graph, massif)
// or as the full JSON model. Progress goes to stderr when it is a terminal.
#include <fmt/core.h>
#include <unistd.h>

#include <map>

#include "analyzer/commands/command.h"
#include "analyzer/export/exporters.h"
#include "analyzer/progress.h"

namespace memtrace::analyzer {

namespace {

enum class ExportFormat { kPprof, kChrome, kFolded, kMassif, kJson };

struct ExportArguments {
  std::string trace;
  ExportFormat format = ExportFormat::kPprof;
  std::string output;
  FoldedWeight by = FoldedWeight::kBytes;
  bool by_given = false;
  size_t max_mapping_slices = 20'000;
  bool max_mapping_slices_given = false;
};

int Export(const ExportArguments& args) {
  if (args.by_given && args.format != ExportFormat::kFolded) {
    fmt::print(stderr, "memtrace: error: --by applies to --format folded only\n");
    return kExitUsage;
  }
  if (args.max_mapping_slices_given && args.format != ExportFormat::kChrome) {
    fmt::print(stderr, "memtrace: error: --max-mapping-slices applies to --format chrome only\n");
    return kExitUsage;
  }
  ProgressReporter progress(STDERR_FILENO);
  ExportRequest request{args.trace, args.output, args.by, args.max_mapping_slices, &progress};
  bool ok = false;
  switch (args.format) {
    case ExportFormat::kPprof: ok = ExportPprof(request); break;
    case ExportFormat::kChrome: ok = ExportChrome(request); break;
    case ExportFormat::kFolded: ok = ExportFolded(request); break;
    case ExportFormat::kMassif: ok = ExportMassif(request); break;
    case ExportFormat::kJson: ok = ExportJson(request); break;
  }
  return ok ? kExitOk : kExitBadInput;
}

}  // namespace

void AddExportCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<ExportArguments>();
  CLI::App* command = app.add_subcommand("export",
                                         "write the trace as pprof, Chrome/Perfetto, folded stacks, "
                                         "massif or JSON");
  command->add_option("trace", args->trace, "trace file (.mtr)")->required();
  const std::map<std::string, ExportFormat> formats = {{"pprof", ExportFormat::kPprof},
                                                       {"chrome", ExportFormat::kChrome},
                                                       {"folded", ExportFormat::kFolded},
                                                       {"massif", ExportFormat::kMassif},
                                                       {"json", ExportFormat::kJson}};
  command
      ->add_option("--format,-f", args->format,
                   "pprof (gzipped profile.proto), chrome (Trace Event JSON), "
                   "folded (flame graph input), massif (ms_print input), json")
      ->required()
      ->transform(CLI::CheckedTransformer(formats));
  command->add_option("-o,--output", args->output, "output file, - for stdout")->required();
  const std::map<std::string, FoldedWeight> weights = {{"bytes", FoldedWeight::kBytes},
                                                       {"calls", FoldedWeight::kCalls}};
  command->add_option("--by", args->by, "folded: weigh stacks by bytes allocated or by calls")
      ->transform(CLI::CheckedTransformer(weights))
      ->each([args](const std::string&) { args->by_given = true; });
  command
      ->add_option("--max-mapping-slices", args->max_mapping_slices,
                   "chrome: draw at most N mappings as slices (the rest are counted in otherData)")
      ->check(CLI::Range(size_t{0}, size_t{1'000'000}))
      ->each([args](const std::string&) { args->max_mapping_slices_given = true; });
  OnChosen(command, action, args, Export);
}

}  // namespace memtrace::analyzer

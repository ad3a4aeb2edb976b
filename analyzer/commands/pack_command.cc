// memtrace pack TRACE [-o OUT] [--level N] [--json]: converts a raw trace to the packed form
// (format/packed_layout.h), in place unless -o names another file.
#include <fmt/core.h>
#include <time.h>

#include "analyzer/commands/command.h"
#include "format/trace_packer.h"

namespace memtrace::analyzer {

namespace {

struct PackArguments {
  std::string path;
  std::string output;
  int level = format::kDefaultPackLevel;
  bool json = false;
};

double Seconds() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) + static_cast<double>(now.tv_nsec) * 1e-9;
}

int Pack(const PackArguments& args) {
  const std::string out = args.output.empty() ? args.path : args.output;
  format::PackStats stats;
  bool already_packed = false;
  std::string error;
  const double start = Seconds();
  if (!format::PackTraceFile(args.path, out, args.level, &stats, &already_packed, &error)) {
    if (already_packed && args.output.empty()) {
      fmt::print(stderr, "memtrace: {}: already packed; nothing to do\n", args.path);
      return kExitOk;
    }
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return kExitBadInput;
  }
  const double seconds = Seconds() - start;
  if (args.json) {
    fmt::print(
        "{{\"trace\": \"{}\", \"raw_bytes\": {}, \"packed_bytes\": {}, \"chunks\": {}, \"seconds\": "
        "{:.3f}}}\n",
        out, stats.raw_bytes, stats.packed_bytes, stats.chunks, seconds);
  } else {
    fmt::print(stderr, "memtrace: packed {}: {} -> {} bytes ({:.1f}x), {} chunks, {:.2f} s\n", out,
               stats.raw_bytes, stats.packed_bytes,
               stats.packed_bytes
                   ? static_cast<double>(stats.raw_bytes) / static_cast<double>(stats.packed_bytes)
                   : 0.0,
               stats.chunks, seconds);
  }
  return kExitOk;
}

}  // namespace

void AddPackCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<PackArguments>();
  CLI::App* pack = app.add_subcommand(
      "pack", "compress a raw trace (in place: temp file, fsync, rename; the raw trace survives a failure)");
  pack->add_option("trace", args->path, "raw trace file (.mtr)")->required();
  pack->add_option("-o,--output", args->output, "write the packed trace here instead of replacing TRACE");
  pack->add_option("--level", args->level, "zstd level (default 3)")->check(CLI::Range(1, 19));
  pack->add_flag("--json", args->json, "print sizes and time as JSON on stdout");
  OnChosen(pack, action, args, Pack);
}

}  // namespace memtrace::analyzer

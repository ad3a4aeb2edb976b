// memtrace replay: compile the trace into an op stream once, then run it in a fresh process per
// allocator and compare what each allocator did with the same calls.
#include <fmt/core.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "analyzer/commands/command.h"
#include "analyzer/replay/allocator_choice.h"
#include "analyzer/replay/replay_launcher.h"
#include "analyzer/replay/replay_report.h"
#include "analyzer/replay/trace_compiler.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

namespace {

struct ReplayArguments : TraceArguments {
  std::string allocator = "glibc";
  bool no_touch = false;
  bool default_environment = false;
};

// A private scratch directory for the op stream and the replayer's output, removed on every return.
class ScratchDirectory {
 public:
  ScratchDirectory() {
    const char* tmp = getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/memtrace-replay-XXXXXX";
    if (mkdtemp(pattern.data())) path_ = pattern;
  }
  ~ScratchDirectory() {
    if (path_.empty()) return;
    for (const char* name : {"ops.mrp", "replay.out", "replay.err"}) unlink((path_ + "/" + name).c_str());
    rmdir(path_.c_str());
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

int Replay(const ReplayArguments& args) {
  std::vector<replay::AllocatorChoice> allocators;
  std::vector<std::string> skipped;
  std::string error;
  if (!replay::ResolveAllocators(args.allocator, &allocators, &skipped, &error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return kExitUsage;
  }
  std::string replayer = replay::ReplayerPath();
  if (access(replayer.c_str(), X_OK) != 0) {
    fmt::print(stderr, "memtrace: error: {} not found (it is built beside memtrace)\n", replayer);
    return kExitBadInput;
  }
  ScratchDirectory scratch;
  if (scratch.path().empty()) {
    fmt::print(stderr, "memtrace: error: cannot create a temporary directory: {}\n", std::strerror(errno));
    return kExitBadInput;
  }
  std::string ops = scratch.path() + "/ops.mrp";
  replay::TraceCompiler compiler(ops);
  TraceInfo info;
  if (!ReadTrace(args.path, {&compiler}, &info)) return kExitBadInput;
  if (!compiler.Finish(&error)) {
    fmt::print(stderr, "memtrace: error: {}\n", error);
    return kExitBadInput;
  }
  for (const std::string& note : skipped) fmt::print(stderr, "memtrace: warning: skipped {}\n", note);
  std::vector<replay::ReplayMeasurement> runs;
  for (const replay::AllocatorChoice& allocator : allocators) {
    replay::ReplayMeasurement measurement;
    const std::vector<std::string> none;
    const std::vector<std::string>& environment = args.default_environment ? none : info.environment;
    if (!replay::LaunchReplay(replayer, ops, allocator, environment, !args.no_touch, scratch.path(),
                              &measurement, &error)) {
      fmt::print(stderr, "memtrace: error: {}\n", error);
      return kExitBadInput;
    }
    runs.push_back(std::move(measurement));
  }
  if (args.json) {
    replay::PrintReplayJson(stdout, compiler.stats(), runs, args.allocator == "all");
  } else {
    replay::PrintReplayText(stdout, info, compiler.stats(), runs);
  }
  return kExitOk;
}

}  // namespace

void AddReplayCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<ReplayArguments>();
  CLI::App* replay = AddTraceCommand(
      app, "replay", "re-run the trace's allocations under glibc, jemalloc, tcmalloc, mimalloc or a .so",
      *args);
  replay->add_option("--allocator", args->allocator, "glibc, jemalloc, tcmalloc, mimalloc, PATH.so, or all")
      ->capture_default_str();
  replay->add_flag("--no-touch", args->no_touch,
                   "do not write to the blocks (RSS then shows only what allocators touch)");
  replay->add_flag("--default-env", args->default_environment,
                   "replay without the GLIBC_TUNABLES/MALLOC_* settings the trace recorded");
  OnChosen(replay, action, args, Replay);
}

}  // namespace memtrace::analyzer

// memtrace diff A B: two traces of the same program compared: sites whose allocated bytes grew or
// shrank, new leaks, peak live heap; --fail-above turns growth into exit code 3 for CI.
#include <fmt/core.h>

#include <cmath>
#include <optional>

#include "analyzer/commands/command.h"
#include "analyzer/json_writer.h"
#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/memory_profile.h"
#include "analyzer/site_diff.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"
#include "analyzer/text_format.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

namespace {

struct DiffArguments {
  std::string a;
  std::string b;
  bool json = false;
  std::optional<double> fail_above;  // percent
};

constexpr size_t kTextSitesShown = 20;
constexpr size_t kTextFramesShown = 4;

bool Digest(const std::string& path, TraceDigest* digest) {
  MemoryProfile profile;
  StackStore stacks;
  LeakClasses classes;
  TraceInfo info;
  if (!ReadTrace(path, {&profile, &stacks, &classes}, &info)) return false;
  profile.Finish();
  LeakAnalysis leaks = AnalyzeLeaks(profile.heap(), classes);
  Symbolizer symbolizer(stacks.modules());
  *digest = DigestTrace(info, profile, leaks, classes.scanned(), stacks, symbolizer);
  return true;
}

// The checks --fail-above asks for: each measure that grew by more than the limit.
std::vector<std::string> FailedChecks(const TraceDigest& a, const TraceDigest& b, double limit) {
  std::vector<std::string> failed;
  auto check = [&](const char* what, uint64_t before, uint64_t after) {
    double percent = PercentChange(before, after);
    if (percent > limit) {
      failed.push_back(fmt::format("{} grew from {} to {} ({}), more than {}%", what, before, after,
                                   std::isinf(percent) ? "from nothing" : fmt::format("{:+.1f}%", percent),
                                   limit));
    }
  };
  check("peak live heap bytes", a.peak_live_bytes, b.peak_live_bytes);
  check("definitely lost bytes", a.definite.bytes, b.definite.bytes);
  return failed;
}

std::string Percent(uint64_t a, uint64_t b) {
  double percent = PercentChange(a, b);
  return std::isinf(percent) ? "new" : fmt::format("{:+.1f}%", percent);
}

void PrintStack(const SourceStack& stack, const char* indent) {
  for (size_t i = 0; i < stack.frames.size() && i < kTextFramesShown; ++i) {
    const SymbolizedFrame& f = stack.frames[i];
    std::string location = FrameLocation(f);
    fmt::print("{}{}{}{}\n", indent, i ? "by " : "", FrameLabel(f),
               location.empty() ? "" : " (" + location + ")");
  }
  if (stack.frames.empty()) fmt::print("{}(no stack)\n", indent);
}

void PrintChanges(const char* title, const std::vector<SiteChange>& changes) {
  if (changes.empty()) return;
  fmt::print("  {} ({} sites{}):\n", title, changes.size(),
             changes.size() > kTextSitesShown ? fmt::format(", largest {} shown", kTextSitesShown) : "");
  for (size_t i = 0; i < changes.size() && i < kTextSitesShown; ++i) {
    const SiteChange& c = changes[i];
    uint64_t a_bytes = c.a ? c.a->bytes : 0, b_bytes = c.b ? c.b->bytes : 0;
    fmt::print("    {:>10}  {} -> {} ({}), calls {} -> {}, {}\n", HumanDelta(c.delta_bytes),
               HumanBytes(a_bytes), HumanBytes(b_bytes), Percent(a_bytes, b_bytes), c.a ? c.a->calls : 0,
               c.b ? c.b->calls : 0, c.status());
    PrintStack(c.stack(), "        ");
  }
}

void PrintText(const TraceDigest& a, const TraceDigest& b, const TraceDiff& diff) {
  fmt::print("memtrace diff: A {} ({}, pid {}) -> B {} ({}, pid {})\n", a.path, a.program, a.pid, b.path,
             b.program, b.pid);
  auto line = [](const char* what, uint64_t x, uint64_t y) {
    fmt::print("  {:<18} {} -> {}  {} ({})\n", what, HumanBytes(x), HumanBytes(y),
               HumanDelta(static_cast<int64_t>(y) - static_cast<int64_t>(x)), Percent(x, y));
  };
  line("peak live heap", a.peak_live_bytes, b.peak_live_bytes);
  line("bytes requested", a.requested_bytes, b.requested_bytes);
  line("definitely lost", a.definite.bytes, b.definite.bytes);
  line("indirectly lost", a.indirect.bytes, b.indirect.bytes);
  if (!a.scanned || !b.scanned) fmt::print("  note: {} has no exit-time leak scan\n", !a.scanned ? "A" : "B");
  if (diff.grown.empty() && diff.shrunk.empty()) fmt::print("  no allocation site changed\n");
  PrintChanges("grown", diff.grown);
  PrintChanges("shrunk", diff.shrunk);
  if (!diff.new_leaks.empty()) fmt::print("  new leaks ({}):\n", diff.new_leaks.size());
  for (const NewLeak& leak : diff.new_leaks) {
    fmt::print("    {} {} in {} blocks\n", LeakClassWording(leak.leak_class), HumanBytes(leak.totals.bytes),
               leak.totals.blocks);
    PrintStack(leak.site->stack, "        ");
  }
}

void WriteSide(JsonWriter& json, const char* key, const TraceDigest& d) {
  json.BeginObject(key)
      .Field("path", d.path)
      .Field("program", d.program)
      .Field("pid", d.pid)
      .Field("leak_scan", d.scanned)
      .Field("peak_live_bytes", d.peak_live_bytes)
      .Field("requested_bytes", d.requested_bytes)
      .Field("definite_bytes", d.definite.bytes)
      .Field("indirect_bytes", d.indirect.bytes)
      .Field("sites", static_cast<uint64_t>(d.sites.size()))
      .EndObject();
}

void WriteMeasure(JsonWriter& json, const char* key, uint64_t a, uint64_t b) {
  json.BeginObject(key).Field("a", a).Field("b", b).Field("delta",
                                                          static_cast<int64_t>(b) - static_cast<int64_t>(a));
  double percent = PercentChange(a, b);
  std::isinf(percent) ? json.Null("percent") : json.Field("percent", percent);
  json.EndObject();
}

void WriteStack(JsonWriter& json, const SourceStack& stack) {
  json.BeginArray("stack");
  for (const SymbolizedFrame& f : stack.frames) {
    json.BeginObject()
        .Field("function", FrameLabel(f))
        .Field("file", f.file)
        .Field("line", f.line)
        .EndObject();
  }
  json.EndArray();
}

void PrintJson(const TraceDigest& a, const TraceDigest& b, const TraceDiff& diff, const DiffArguments& args,
               const std::vector<std::string>& failed) {
  JsonWriter json(stdout);
  json.BeginObject();
  WriteSide(json, "a", a);
  WriteSide(json, "b", b);
  WriteMeasure(json, "peak_live_bytes", a.peak_live_bytes, b.peak_live_bytes);
  WriteMeasure(json, "requested_bytes", a.requested_bytes, b.requested_bytes);
  WriteMeasure(json, "definite_bytes", a.definite.bytes, b.definite.bytes);
  WriteMeasure(json, "indirect_bytes", a.indirect.bytes, b.indirect.bytes);
  for (const auto* list : {&diff.grown, &diff.shrunk}) {
    json.BeginArray(list == &diff.grown ? "grown" : "shrunk");
    for (const SiteChange& c : *list) {
      json.BeginObject()
          .Field("status", c.status())
          .Field("a_bytes", c.a ? c.a->bytes : 0)
          .Field("b_bytes", c.b ? c.b->bytes : 0)
          .Field("delta_bytes", c.delta_bytes)
          .Field("a_calls", c.a ? c.a->calls : 0)
          .Field("b_calls", c.b ? c.b->calls : 0);
      WriteStack(json, c.stack());
      json.EndObject();
    }
    json.EndArray();
  }
  json.BeginArray("new_leaks");
  for (const NewLeak& leak : diff.new_leaks) {
    json.BeginObject()
        .Field("class", LeakClassKey(leak.leak_class))
        .Field("bytes", leak.totals.bytes)
        .Field("blocks", leak.totals.blocks);
    WriteStack(json, leak.site->stack);
    json.EndObject();
  }
  json.EndArray();
  args.fail_above ? json.Field("fail_above", *args.fail_above) : json.Null("fail_above");
  json.Field("failed", !failed.empty());
  json.BeginArray("failures");
  for (const std::string& f : failed) json.Field("", f);
  json.EndArray().EndObject();
}

int Diff(const DiffArguments& args) {
  if (args.fail_above && !(*args.fail_above >= 0)) {
    fmt::print(stderr, "memtrace: error: --fail-above takes a percentage of 0 or more\n");
    return kExitUsage;
  }
  TraceDigest a, b;
  if (!Digest(args.a, &a) || !Digest(args.b, &b)) return kExitBadInput;
  if (a.program != b.program) {
    fmt::print(stderr, "memtrace: warning: the traces are of different programs ({} and {})\n", a.program,
               b.program);
  }
  TraceDiff diff = DiffTraces(a, b);
  std::vector<std::string> failed;
  if (args.fail_above) failed = FailedChecks(a, b, *args.fail_above);
  if (args.json) {
    PrintJson(a, b, diff, args, failed);
  } else {
    PrintText(a, b, diff);
    for (const std::string& f : failed) fmt::print("  FAILED: {}\n", f);
  }
  return failed.empty() ? kExitOk : kExitCheckFailed;
}

}  // namespace

void AddDiffCommand(CLI::App& app, CommandAction* action) {
  auto args = std::make_shared<DiffArguments>();
  CLI::App* diff =
      app.add_subcommand("diff", "compare two traces of one program: sites grown or shrunk, new leaks");
  diff->add_option("a", args->a, "the baseline trace (.mtr)")->required();
  diff->add_option("b", args->b, "the trace compared with it (.mtr)")->required();
  diff->add_flag("--json", args->json, "print JSON with stable keys");
  diff->add_option("--fail-above", args->fail_above,
                   "exit 3 if B's peak live heap or definitely lost bytes exceed A's by more than PERCENT");
  OnChosen(diff, action, args, Diff);
}

}  // namespace memtrace::analyzer

// Folded stacks, the input of flamegraph.pl and inferno-flamegraph: one "root;...;leaf value" line per
// distinct symbolized stack, the value being the bytes allocated there or the number of calls.
// Stacks that symbolize to the same names are merged, as the flame graph would merge them anyway.
#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "analyzer/export/exporters.h"
#include "analyzer/export/output_file.h"
#include "analyzer/export/site_frames.h"

namespace memtrace::analyzer {

namespace {

// ';' separates frames and the last ' ' the value: neither may appear inside a frame's name.
std::string FoldedName(const SymbolizedFrame& frame) {
  std::string name = FrameName(frame);
  std::replace(name.begin(), name.end(), ';', ':');
  std::replace(name.begin(), name.end(), '\n', ' ');
  return name;
}

}  // namespace

bool ExportFolded(const ExportRequest& request) {
  StackStore stacks;
  SiteStatistics sites;
  TraceInfo info;
  if (!ReadTrace(request.trace, {&stacks, &sites}, &info, request.progress)) return false;
  Symbolizer symbolizer(stacks.modules());
  std::map<std::string, uint64_t> folded;
  std::vector<SiteNumbers> site_list = sites.Sites();
  if (request.progress) request.progress->Start("symbolizing");
  for (size_t i = 0; i < site_list.size(); ++i) {
    const SiteNumbers& site = site_list[i];
    uint64_t value = request.weight == FoldedWeight::kBytes ? site.bytes : site.calls;
    if (value == 0) continue;
    std::vector<SymbolizedFrame> frames = SiteFrames(site, stacks, symbolizer);
    std::string line;
    for (auto frame = frames.rbegin(); frame != frames.rend(); ++frame) {  // root first
      if (!line.empty()) line += ';';
      line += FoldedName(*frame);
    }
    folded[line] += value;
    if (request.progress && i % 256 == 0) request.progress->Update(i, site_list.size());
  }
  if (request.progress) request.progress->Finish();
  OutputFile out(request.output);
  if (!out.get()) return false;
  for (const auto& [line, value] : folded) fmt::print(out.get(), "{} {}\n", line, value);
  return out.Close();
}

}  // namespace memtrace::analyzer

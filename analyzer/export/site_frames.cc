#include "analyzer/export/site_frames.h"

namespace memtrace::analyzer {

std::vector<SymbolizedFrame> SiteFrames(const SiteNumbers& site, const StackStore& stacks,
                                        Symbolizer& symbolizer) {
  std::vector<SymbolizedFrame> frames;
  if (site.stack_id) frames = SymbolizeStack(symbolizer, stacks.Frames(site.stack_id));
  if (frames.empty()) {
    SymbolizedFrame call;
    call.function = site.stack_id ? "[unknown stack]" : format::NameOf(site.kind);
    frames.push_back(call);
  }
  return frames;
}

std::string FrameName(const SymbolizedFrame& frame) {
  if (!frame.function.empty()) return frame.function;
  return Symbolizer::Describe(frame);
}

}  // namespace memtrace::analyzer

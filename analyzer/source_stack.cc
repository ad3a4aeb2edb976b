#include "analyzer/source_stack.h"

#include <fmt/core.h>

#include <string_view>

namespace memtrace::analyzer {

namespace {

std::string_view Basename(std::string_view path) {
  size_t slash = path.rfind('/');
  return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

// Module and offset stay put across runs where the address does not; the line tells inlined calls apart.
std::string FrameKey(const SymbolizedFrame& frame) {
  if (!frame.function.empty()) return fmt::format("{}@{}:{}", frame.function, frame.file, frame.line);
  if (!frame.module.empty()) return fmt::format("{}+{:x}", Basename(frame.module), frame.module_offset);
  return "?";
}

}  // namespace

SourceStack SymbolizeSite(Symbolizer& symbolizer, const StackStore& stacks, uint32_t stack_id) {
  SourceStack site;
  site.frames = SymbolizeStack(symbolizer, stacks.Frames(stack_id));
  for (const SymbolizedFrame& frame : site.frames) {
    if (!site.key.empty()) site.key += ';';
    site.key += FrameKey(frame);
  }
  if (site.frames.empty()) site.key = "(no stack)";
  return site;
}

std::string FrameLabel(const SymbolizedFrame& frame) {
  if (!frame.function.empty()) return frame.function;
  if (!frame.module.empty()) return fmt::format("{}+0x{:x}", Basename(frame.module), frame.module_offset);
  return fmt::format("0x{:x}", frame.address);
}

std::string FrameLocation(const SymbolizedFrame& frame) {
  if (frame.file.empty() || frame.line <= 0) return {};
  return fmt::format("{}:{}", Basename(frame.file), frame.line);
}

}  // namespace memtrace::analyzer

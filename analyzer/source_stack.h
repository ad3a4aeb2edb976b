// An allocation stack as source locations, with a key that names it identically in every run of the
// same binaries: addresses move between runs (ASLR), function + file + line (or module + offset when
// there are no symbols) do not. Used to match sites across traces and to label them in reports.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"

namespace memtrace::analyzer {

struct SourceStack {
  std::vector<SymbolizedFrame> frames;  // innermost first, inlined calls expanded
  std::string key;                      // equal for the same call path in another run
};

SourceStack SymbolizeSite(Symbolizer& symbolizer, const StackStore& stacks, uint32_t stack_id);

// A short name for one frame: the function, else "module+0xoffset", else the address.
std::string FrameLabel(const SymbolizedFrame& frame);
// "file.c:12" (basename), or empty when the line is unknown.
std::string FrameLocation(const SymbolizedFrame& frame);

}  // namespace memtrace::analyzer

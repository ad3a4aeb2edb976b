// How the profile exporters name an allocation site (see analyzer/site_statistics.h) in frames.
#pragma once

#include <string>
#include <vector>

#include "analyzer/site_statistics.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"

namespace memtrace::analyzer {

// The source-level frames of a site, innermost first. A site without a stack gets one frame named
// after its allocating call, so it still shows up in profiles.
std::vector<SymbolizedFrame> SiteFrames(const SiteNumbers& site, const StackStore& stacks,
                                        Symbolizer& symbolizer);

// A frame as one short name: the function, or "??? (in module+0x..)" when unknown.
std::string FrameName(const SymbolizedFrame& frame);

}  // namespace memtrace::analyzer

// What `memtrace replay` prints: per allocator, the replay's time, memory and system calls, and for
// glibc how faithfully the replay reproduced the recorded heap/mmap verdicts and break moves.
#pragma once

#include <cstdio>
#include <vector>

#include "analyzer/replay/replay_launcher.h"
#include "analyzer/replay/trace_compiler.h"
#include "analyzer/trace_pass.h"

namespace memtrace::replay {

// One column per allocator, side by side.
void PrintReplayText(std::FILE* out, const analyzer::TraceInfo& info, const CompileStats& stats,
                     const std::vector<ReplayMeasurement>& runs);
// One object, or an array of objects when `as_array` (--allocator all), with stable keys.
void PrintReplayJson(std::FILE* out, const CompileStats& stats, const std::vector<ReplayMeasurement>& runs,
                     bool as_array);

}  // namespace memtrace::replay

// Appends records to a finished trace from outside the traced process: `memtrace run` uses it to say
// how a process ended when the process itself could not (a fatal signal, SIGKILL).
//
// Not for a trace whose process is still running: it takes the next chunk without the writer's
// atomics.
#pragma once

#include <string>

#include "format/record_codec.h"

namespace memtrace::format {

// Appends `record` in a new chunk attributed to thread `tid`. Returns false with *error set if the
// trace cannot be opened or is not a memtrace trace.
bool AppendRecordToTrace(const std::string& path, uint32_t tid, const Record& record, std::string* error);

}  // namespace memtrace::format

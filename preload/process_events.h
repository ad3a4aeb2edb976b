// Records about the process as a whole, written from lifecycle and process hooks.
#pragma once

#include "format/record_kind.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

// Writes the current /proc/self/maps as kMapEntry records followed by a kMapsSnapshotEnd.
void EmitMapsSnapshot(ThreadState& thread, format::SnapshotReason reason);

}  // namespace memtrace::preload

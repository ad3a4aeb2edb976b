// Catches the mappings libc makes behind the program's back with its internal mmap and dlopen, which
// no hook sees: locale archives (setlocale, newlocale), the gconv cache and modules (iconv_open, the
// first multibyte conversion in a UTF-8 locale), NSS libraries (getpwnam, getaddrinfo, ...).
//
// The file-backed part of /proc/self/maps (memtrace's own trace file and [heap]/[stack]-style entries
// left out) is fingerprinted. A hook checks it at most every MEMTRACE_MAPS_INTERVAL_MS (default 100;
// 0 turns the periodic check off), and the setlocale/newlocale/iconv_open hooks check it after the call;
// when the fingerprint differs from the last snapshot's, a full snapshot is written. Anonymous mappings
// made behind the program's back are left to the next snapshot that has another reason to be taken.
//
// Concurrency contract: any thread may check; a compare-and-swap on the next due time lets one thread
// at a time read the maps. Everything is async-signal-safe (raw syscalls, no allocation).
#pragma once

#include <atomic>
#include <cstdint>

#include "format/record_kind.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

// Reads MEMTRACE_MAPS_INTERVAL_MS; called once while the tracer initializes.
void ConfigureMapsWatch();

// Called by every snapshot with the fingerprint of its file-backed entries.
void NoteSnapshotFingerprint(uint64_t fingerprint);

// Mixes one /proc/self/maps line into a fingerprint, if it is file-backed and not memtrace's own.
uint64_t MixFingerprint(uint64_t fingerprint, uint64_t begin, uint64_t end, uint64_t offset, uint64_t inode,
                        uint32_t prot, const char* path, uint32_t path_length);

// Writes a snapshot with `reason` if the file-backed mappings changed since the last one.
void SnapshotIfFilesChanged(ThreadState& thread, format::SnapshotReason reason);

namespace internal {
extern std::atomic<uint64_t> maps_check_due_ns;  // UINT64_MAX: periodic check off
void PeriodicMapsCheck(ThreadState& thread, uint64_t due, uint64_t now);
}  // namespace internal

// The hot-path test, one relaxed load per recorded call: runs the periodic check when it is due.
inline void MaybeCheckMaps(ThreadState& thread, uint64_t now) {
  uint64_t due = internal::maps_check_due_ns.load(std::memory_order_relaxed);
  if (now >= due) [[unlikely]]
    internal::PeriodicMapsCheck(thread, due, now);
}

}  // namespace memtrace::preload

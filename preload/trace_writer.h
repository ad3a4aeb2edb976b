// The writer: owns the trace file and appends records to the calling thread's chunk.
//
// Concurrency contract: Append is lock-free and needs no syscall on the hot path; a thread writes only
// into its own chunk. Taking a new chunk is one atomic increment of FileHeader::chunks_allocated plus
// a fallocate (and, once per 4 MiB segment, an mmap published with a compare-and-swap), all
// async-signal-safe. OpenTrace and ReopenAfterFork run while no other thread of the process can write.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "format/record_codec.h"
#include "format/trace_layout.h"
#include "preload/thread_state.h"
#include "preload/tsc_clock.h"

namespace memtrace::preload {

// Creates the trace file (MEMTRACE_OUTPUT, %p = pid, %e = program name; default
// memtrace.PROGRAM.PID.mtr) and maps its header. Returns the header, or null if no file could be made.
format::FileHeader* OpenTrace();

// In a fork child: forget the parent's file and start a trace of our own.
format::FileHeader* ReopenAfterFork();

// Appends `record` to the calling thread's chunk; counts it as dropped if the trace cannot grow.
void Append(ThreadState& thread, const format::Record& record);

// Bumped by ReopenAfterFork: a thread whose ThreadState::generation differs holds the parent's chunk.
extern std::atomic<uint32_t> trace_generation;

// The hot path of Append for records the hooks encode themselves (format::EncodeHeapAllocation and
// EncodeHeapRelease): where the calling thread's next record goes, or null when Append must write it
// (no chunk yet or not enough room, a fork since the thread's last record, dropped calls to report).
inline uint8_t* FastRecordRoom(ThreadState& thread) {
  if (thread.generation != trace_generation.load(std::memory_order_relaxed) ||
      static_cast<size_t>(thread.limit - thread.cursor) < format::kFastRecordBytes ||
      __atomic_load_n(&thread.dropped, __ATOMIC_RELAXED)) [[unlikely]]
    return nullptr;
  return thread.cursor;
}

// Makes the thread's chunk up to `end` visible to readers (the exit-time scan, a crash's reader).
inline void PublishRecords(ThreadState& thread, uint8_t* end) {
  thread.cursor = end;
  auto committed = static_cast<uint32_t>(end - reinterpret_cast<uint8_t*>(thread.chunk + 1));
  __atomic_store_n(&thread.chunk->committed_bytes, committed, __ATOMIC_RELEASE);
}

// Gives up the chunk `thread` is filling (it stays in the trace as written) and forgets it: for a
// ThreadState that will write no more, such as a vfork child's once its parent resumes.
void ReleaseChunk(ThreadState& thread);

// The trace file as far as it holds whole chunks, mapped read-only for the exit-time leak scan (null if
// it cannot be), for the caller to unmap (`*bytes`); `*chunks`: the chunks taken so far that it holds.
// Chunks other threads are still filling are seen with what they have committed.
const uint8_t* MapTraceForReading(uint64_t* bytes, uint64_t* chunks);

// Reads `size` bytes of the trace file at `offset`; false if they cannot all be read.
bool ReadTraceBytes(void* out, uint64_t size, uint64_t offset);

// The trace file's inode: /proc/self/maps lines with it are memtrace's own mappings.
uint64_t TraceInode();

// The pid the trace belongs to (0 before OpenTrace): a vfork child shares our memory but not this.
uint32_t TracedPid();

// The trace's path (empty before OpenTrace).
const char* TracePath();

// Raw syscalls: the writer must not depend on functions the program may have wrapped or broken.
uint32_t CurrentTid();

}  // namespace memtrace::preload

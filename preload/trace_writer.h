// The writer: owns the trace file and appends records to the calling thread's chunk.
//
// Concurrency contract: Append is lock-free and needs no syscall on the hot path; a thread writes only
// into its own chunk. Taking a new chunk is one atomic increment of FileHeader::chunks_allocated plus
// a fallocate (and, once per 4 MiB segment, an mmap published with a compare-and-swap), all
// async-signal-safe. OpenTrace and ReopenAfterFork run while no other thread of the process can write.
#pragma once

#include <cstdint>

#include "format/record_codec.h"
#include "format/trace_layout.h"
#include "preload/thread_state.h"

namespace memtrace::preload {

// Creates the trace file (MEMTRACE_OUTPUT, %p = pid, %e = program name; default
// memtrace.PROGRAM.PID.mtr) and maps its header. Returns the header, or null if no file could be made.
format::FileHeader* OpenTrace();

// In a fork child: forget the parent's file and start a trace of our own.
format::FileHeader* ReopenAfterFork();

// Appends `record` to the calling thread's chunk; counts it as dropped if the trace cannot grow.
void Append(ThreadState& thread, const format::Record& record);

// Gives up the chunk `thread` is filling (it stays in the trace as written) and forgets it: for a
// ThreadState that will write no more, such as a vfork child's once its parent resumes.
void ReleaseChunk(ThreadState& thread);

// Visits every chunk this process has taken so far, for the exit-time leak scan. Chunks other threads
// are still filling are visited with what they had committed.
void ForEachChunk(void (*visit)(const format::ChunkHeader* chunk, void* context), void* context);

// The trace file's inode: /proc/self/maps lines with it are memtrace's own mappings.
uint64_t TraceInode();

// The pid the trace belongs to (0 before OpenTrace): a vfork child shares our memory but not this.
uint32_t TracedPid();

// The trace's path (empty before OpenTrace).
const char* TracePath();

uint64_t NowNanoseconds();

// Raw syscalls: the writer must not depend on functions the program may have wrapped or broken.
uint32_t CurrentTid();

}  // namespace memtrace::preload

// Executes an op stream (op_stream.h) in this process against whatever malloc the process has: one
// thread per recorded thread, each running its ops in recorded order, waiting where an op needs a
// block another thread allocated. Measures what the allocator did: live bytes, break moves, and, when
// the allocator is glibc's, each block's verdict (IS_MMAPPED in the chunk header) against the recorded.
//
// Allocation discipline: the engine itself never calls malloc (its tables are mmapped, the stream is
// read with pread into per-thread buffers), so the heap holds exactly the replayed blocks. Its own
// memory syscalls while replaying (thread stacks, in pthread_create and pthread_join) are charged to
// CallOwner::kReplayer, the program's replayed brk/sbrk to kProgram (syscall_counters.h).
#pragma once

#include <cstdint>

#include "analyzer/replay/op_stream.h"

namespace memtrace::replay {

struct ReplayOptions {
  bool touch = true;   // write one byte per page of each block so RSS reflects it
  bool glibc = false;  // malloc is glibc's: chunk headers can be read
};

struct ReplayTotals {
  uint64_t operations = 0;  // spawns excluded
  uint64_t failed_allocations = 0;
  uint64_t peak_live_bytes = 0;
  uint64_t brk_moves = 0;
  uint64_t heap_allocations = 0;     // glibc only
  uint64_t mmapped_allocations = 0;  // glibc only
  uint64_t verdict_mismatches = 0;   // glibc only: heap/mmap differs from the recorded verdict
  uint64_t brk_mismatches = 0;       // ops whose break move (or its size) differs from the recorded one
  uint64_t mallopt_calls = 0;
  uint64_t malloc_trim_calls = 0;
  uint64_t trim_result_mismatches = 0;  // glibc only: malloc_trim released memory or not, unlike recorded
  uint64_t program_brk_calls = 0;       // the program's own brk/sbrk, replayed
  uint64_t failed_program_brk_calls = 0;
  int64_t first_verdict_mismatch = -1;  // op ordinal on the main thread, for investigation
  int64_t first_brk_mismatch = -1;
};

// Indexes the stream open on `fd` whose header is `header` and maps the replay's tables, so that what
// RunReplay measures is the replay alone. False with *error (a static string) if the stream is damaged.
bool PrepareReplay(int fd, const OpFileHeader& header, const ReplayOptions& options, const char** error);

// Runs the prepared replay on this thread (the recorded main thread) and the threads it spawns, and
// joins them. Damage found once threads run, when others may be waiting for ops that will never come,
// ends the process with one error line on stderr and exit status 1.
void RunReplay(ReplayTotals* totals);

}  // namespace memtrace::replay

// Start and end of tracing in a process: lazy initialization on the first hooked call, the trace
// header, fork children, and the records that say how the process ended.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "preload/brk_watch.h"
#include "preload/chunk_inspector.h"
#include "preload/export.h"
#include "preload/fatal_signals.h"
#include "preload/hook_guard.h"
#include "preload/leak_scan.h"
#include "preload/maps_watch.h"
#include "preload/process_events.h"
#include "preload/real_functions.h"
#include "preload/stack_table.h"

extern char** environ;

namespace memtrace::preload {

std::atomic<TracerState> tracer_state{TracerState::kUninitialized};
std::atomic<uint64_t> known_break{0};
bool chunk_headers_readable = false;
bool stacks_enabled = false;
bool release_stacks = false;

namespace {

const char* allocator_path = "";
bool malloc_shadowed = false;
int exit_status = -1;  // set by the exit() hook and when main returns (see __libc_start_main below)

using MainFunction = int (*)(int, char**, char**);
MainFunction program_main = nullptr;

// Stands in for the program's main so its return value is known: glibc passes it to exit() from
// inside libc, where the exit() hook cannot see it.
int MainReturningStatus(int argc, char** argv, char** envp) {
  int status = program_main(argc, argv, envp);
  exit_status = status;
  return status;
}
bool leak_scan_enabled = true;  // MEMTRACE_LEAK_SCAN=0 turns the exit-time scan off

// Who writes the process's end records: 0, or the writer's tid << 1, | 1 for a fatal signal.
std::atomic<uint64_t> end_owner{0};

// The thread writing a signal's end appends through a ThreadState of its own, so it takes a fresh
// chunk. The signal may have interrupted a hook of that thread mid-append (depth > 0): a record
// becomes visible only when Append publishes the chunk's committed size, so the interrupted chunk
// stays readable up to its last whole record, and the reader takes the new chunk (same tid, later in
// the file) after it. The interrupted call itself is not recorded.
// Concurrency contract: used only by the thread that claimed the end with a fatal signal.
ThreadState signal_writer;

void CopyText(char* out, size_t size, const char* text) {
  size_t i = 0;
  for (; text[i] && i + 1 < size; ++i) out[i] = text[i];
  out[i] = 0;
}

// Reads a small /proc file into `out` (NUL-terminated); returns the byte count.
size_t ReadProcFile(const char* path, char* out, size_t size) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  size_t total = 0;
  while (total + 1 < size) {
    ssize_t n = read(fd, out + total, size - 1 - total);
    if (n <= 0) break;
    total += static_cast<size_t>(n);
  }
  close(fd);
  out[total] = 0;
  return total;
}

void WriteError(const char* what, const char* path) {
  const char* parts[] = {"memtrace: ", what, " ", path, "; this process is not traced\n"};
  for (const char* part : parts) {
    ssize_t ignored = write(2, part, strlen(part));
    (void)ignored;
  }
}

void EmitEnvironment(ThreadState& thread) {
  for (char** entry = environ; entry && *entry; ++entry) {
    const char* text = *entry;
    if (strncmp(text, "GLIBC_TUNABLES=", 15) != 0 && strncmp(text, "MALLOC_", 7) != 0) continue;
    format::Record record;
    record.kind = format::RecordKind::kEnvironment;
    record.timestamp = NowNanoseconds();
    record.bytes = reinterpret_cast<const uint8_t*>(text);
    record.byte_count = static_cast<uint32_t>(strnlen(text, format::kMaxMetaBytes));
    Append(thread, record);
  }
}

// Fills what the writer does not know about the process and records the environment that changes
// malloc's behaviour.
// The trace this one continues: the image before an exec (MEMTRACE_PARENT_TRACE=<pid>:<path> with
// our own pid, set by the exec hooks; for a vfork child's exec the path is its parent's trace, which
// holds the child's calls before the exec) or, in a fork child or posix_spawn child
// (MEMTRACE_PARENT_TRACE with our parent's pid, set by the posix_spawn hooks), the parent's.
void NameParentTrace(format::FileHeader* header, const char* fork_parent_trace) {
  if (fork_parent_trace) {
    header->parent_pid = header->ppid;
    CopyText(header->parent_trace, sizeof header->parent_trace, fork_parent_trace);
    return;
  }
  const char* parent = getenv("MEMTRACE_PARENT_TRACE");
  if (!parent) return;
  uint32_t pid = 0;
  while (*parent >= '0' && *parent <= '9') pid = pid * 10 + static_cast<uint32_t>(*parent++ - '0');
  if (*parent != ':') return;
  if (pid == header->pid) {
    header->exec_generation = 1;
  } else if (pid != header->ppid) {
    return;  // left over from an ancestor: not our image, nor our parent's
  }
  header->parent_pid = pid;
  CopyText(header->parent_trace, sizeof header->parent_trace, parent + 1);
}

// memtrace's own table mapping (the stack table), for the maps reconstruction to account for and
// hide.
void EmitOwnTable(const void* table_begin, const void* table_end) {
  if (!table_begin) return;
  format::Record own;
  own.kind = format::RecordKind::kOwnMapping;
  own.timestamp = NowNanoseconds();
  own.address = reinterpret_cast<uint64_t>(table_begin);
  own.size =
      static_cast<uint64_t>(static_cast<const char*>(table_end) - static_cast<const char*>(table_begin));
  own.param = 1;
  Append(thread_state, own);
}

void DescribeProcess(format::FileHeader* header) {
  header->flags |= chunk_headers_readable ? format::kHeaderGlibcAllocator : format::kHeaderForeignAllocator;
  if (malloc_shadowed) header->flags |= format::kHeaderMallocShadowed;
  if (stacks_enabled) header->flags |= format::kHeaderStacks;
  CopyText(header->allocator, sizeof header->allocator, allocator_path);
  ssize_t n = readlink("/proc/self/exe", header->program, sizeof header->program - 1);
  header->program[n > 0 ? n : 0] = 0;
  size_t length = ReadProcFile("/proc/self/cmdline", header->command_line, sizeof header->command_line);
  for (size_t i = 0; i + 1 < length; ++i) {
    if (header->command_line[i] == 0) header->command_line[i] = ' ';
  }
  header->initial_break = known_break.load(std::memory_order_relaxed);
  header->trace_inode = TraceInode();
  EmitEnvironment(thread_state);
  const void* table_begin = nullptr;
  const void* table_end = nullptr;
  StackTableRange(&table_begin, &table_end);
  EmitOwnTable(table_begin, table_end);
  // memtrace's own start-up (loading libunwind) may have made malloc grow the heap: say so, rather than
  // pin that move on the program's next call.
  if (uint64_t now = CurrentBreak(); now && now != header->initial_break) {
    format::Record record;
    record.kind = format::RecordKind::kStartupBreakMove;
    record.timestamp = NowNanoseconds();
    record.brk_before = header->initial_break;
    record.brk_after = now;
    known_break.store(now, std::memory_order_relaxed);
    Append(thread_state, record);
  }
  EmitModules(thread_state);
}

void EmitEnd(format::EndReason reason, int status) {
  HookScope scope;
  if (!scope.active()) return;
  // A vfork child shares our memory but is not the traced process: it only says it is done with it.
  if (thread_state.vfork_parent) return NoteVforkChildEnd(reason, status, nullptr);
  // Other children that share our memory (a raw clone(CLONE_VM)) leave no record.
  if (static_cast<uint32_t>(syscall(SYS_getpid)) != TracedPid()) return;
  switch (ClaimEnd(/*fatal_signal=*/false)) {
    case EndClaim::kClaimed: break;
    case EndClaim::kSignalElsewhere:
      // Another thread is dying from a fatal signal: untraced, that signal would end the process
      // during this exit too. Let it.
      for (;;) {
        timespec nap{1, 0};
        nanosleep(&nap, nullptr);
      }
    default: return;  // another thread's end is already written or being written
  }
  {
    InternalWork work;
    EmitModules(thread_state);  // libraries loaded since start-up, for symbolizing their stacks
    FinishStackCapture();
    if (leak_scan_enabled) RunLeakScan(thread_state, /*checked_reads=*/false, __builtin_frame_address(0));
    EmitMapsSnapshot(thread_state, format::SnapshotReason::kExit);
  }
  format::Record record;
  record.kind = format::RecordKind::kProcessEnd;
  record.timestamp = NowNanoseconds();
  record.param = static_cast<int64_t>(reason);
  record.result = status;
  scope.Emit(record);
}

__attribute__((constructor)) void InitializeEarly() {
  HookScope scope;  // initializes the tracer if no hook did yet
}

__attribute__((destructor)) void RecordExit() { EmitEnd(format::EndReason::kExit, exit_status); }

}  // namespace

void AfterForkInChild() {
  // Only this thread exists now; its state still names the parent's chunk until Append sees the
  // new generation.
  if (tracer_state.load(std::memory_order_acquire) != TracerState::kReady) return;
  InternalWork work;
  end_owner.store(0, std::memory_order_relaxed);  // a thread that was ending the parent is not here
  char parent_trace[512];
  CopyText(parent_trace, sizeof parent_trace, TracePath());
  if (format::FileHeader* header = ReopenAfterFork()) {
    stacks_enabled = stacks_enabled && InitializeStackCapture(/*after_fork=*/true);
    DescribeProcess(header);
    NameParentTrace(header, parent_trace);
    EmitMapsSnapshot(thread_state, format::SnapshotReason::kStart);
  } else {
    tracer_state.store(TracerState::kDisabled, std::memory_order_release);
  }
}

EndClaim ClaimEnd(bool fatal_signal) {
  uint64_t tid = CurrentTid();
  uint64_t expected = 0;
  if (end_owner.compare_exchange_strong(expected, tid << 1 | (fatal_signal ? 1 : 0)))
    return EndClaim::kClaimed;
  if (expected >> 1 == tid) return EndClaim::kThisThread;
  return (expected & 1) ? EndClaim::kSignalElsewhere : EndClaim::kExitElsewhere;
}

// No EmitModules here: dl_iterate_phdr takes the loader's lock, which the interrupted code may hold
// (or wait for while holding malloc's); libraries the program dlopened were recorded when it did.
void WriteSignalEnd(int signo, const void* program_stack) {
  int interrupted_depth = thread_state.depth;
  InternalWork work;  // anything hooked reached from here goes straight to the real function
  // Interrupted inside a hook, the heap may have changed without its record (a free whose record
  // is not written yet may have given memory back): read memory only through checked reads.
  if (leak_scan_enabled) RunLeakScan(signal_writer, /*checked_reads=*/interrupted_depth > 0, program_stack);
  EmitMapsSnapshot(signal_writer, format::SnapshotReason::kExit);
  format::Record record;
  record.kind = format::RecordKind::kProcessEnd;
  record.timestamp = NowNanoseconds();
  record.param = static_cast<int64_t>(format::EndReason::kSignal);
  record.result = signo;
  Append(signal_writer, record);
}

bool InitializeTracer() {
  TracerState expected = TracerState::kUninitialized;
  if (!tracer_state.compare_exchange_strong(expected, TracerState::kInitializing)) {
    return expected == TracerState::kReady;
  }
  // Runs inside the program's first hooked call: whatever start-up tried and failed (a file that is
  // not there) must not show in the errno that call leaves.
  struct KeepErrno {
    int value = errno;
    ~KeepErrno() { errno = value; }
  } keep_errno;
  // The break before memtrace does anything (its start-up may allocate).
  if (!CurrentBreak()) real.sbrk(0);  // makes libc look the break up now, as its first malloc would anyway
  known_break.store(CurrentBreak(), std::memory_order_relaxed);
  InitializeClock();
  allocator_path = ResolveRealFunctions();
  chunk_headers_readable = RealMallocIsGlibc();
  malloc_shadowed = MallocDefinedBeforeUs();
  const char* free_stacks = getenv("MEMTRACE_FREE_STACKS");
  release_stacks = free_stacks && strcmp(free_stacks, "1") == 0;
  const char* leak_scan = getenv("MEMTRACE_LEAK_SCAN");
  leak_scan_enabled = !(leak_scan && strcmp(leak_scan, "0") == 0);
  format::FileHeader* header = OpenTrace();
  if (!header) {
    WriteError("cannot create the trace file", TracePath());
    tracer_state.store(TracerState::kDisabled, std::memory_order_release);
    return false;
  }
  stacks_enabled = InitializeStackCapture(/*after_fork=*/false);
  DescribeProcess(header);
  NameParentTrace(header, nullptr);
  EmitMapsSnapshot(thread_state, format::SnapshotReason::kStart);
  pthread_atfork(nullptr, nullptr, AfterForkInChild);
  ConfigureMapsWatch();
  tracer_state.store(TracerState::kReady, std::memory_order_release);
  InstallFatalSignalHandlers();
  return true;
}

}  // namespace memtrace::preload

using namespace memtrace::preload;

extern "C" {

MEMTRACE_EXPORT int __libc_start_main(MainFunction main, int argc, char** argv, void (*init)(),
                                      void (*fini)(), void (*rtld_fini)(), void* stack_end) {
  using StartMain = int (*)(MainFunction, int, char**, void (*)(), void (*)(), void (*)(), void*);
  auto next = reinterpret_cast<StartMain>(dlsym(RTLD_NEXT, "__libc_start_main"));
  program_main = main;
  return next(MainReturningStatus, argc, argv, init, fini, rtld_fini, stack_end);
}

MEMTRACE_EXPORT void exit(int status) {
  exit_status = status;
  if (!real.exit) ResolveRealFunctions();
  real.exit(status);
  __builtin_unreachable();
}

MEMTRACE_EXPORT void _exit(int status) {
  EmitEnd(memtrace::format::EndReason::kUnderscoreExit, status);
  if (real._exit) real._exit(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

MEMTRACE_EXPORT void _Exit(int status) {
  EmitEnd(memtrace::format::EndReason::kUnderscoreExit, status);
  if (real._Exit) real._Exit(status);
  syscall(SYS_exit_group, status);
  __builtin_unreachable();
}

}  // extern "C"

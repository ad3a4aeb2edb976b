// Threads, processes and libraries: thread stacks (pthread_create), fork children, exec'd images,
// dlopen/dlclose, and the /proc/self/maps snapshots that let the analyzer name every mapping.
//
// fork and _Fork children get a trace of their own. vfork is wrapped in vfork_hooks.cc: the child's
// calls before its exec or _exit are recorded in our trace under the child's pid (vfork_handoff.h),
// and its exec (through the hooks here) is noted for the parent's kVfork record instead of ending
// our trace. posix_spawn/posix_spawnp are recorded in spawn_hooks.cc, with glibc's transient child stack;
// their child runs no hook before its exec, and its new image is traced through LD_PRELOAD.
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>

#include "preload/eh_frame_index.h"
#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/maps_watch.h"
#include "preload/proc_maps.h"
#include "preload/process_events.h"
#include "preload/real_functions.h"

extern char** environ;

using memtrace::format::Record;
using memtrace::format::RecordKind;
using namespace memtrace::preload;

namespace memtrace::preload {

namespace {

std::atomic<int64_t> next_snapshot{1};

struct SnapshotWriter {
  ThreadState* thread;
  int64_t sequence;
  uint64_t entries;
  uint64_t fingerprint;  // of the file-backed entries (maps_watch.h)
};

void EmitMapEntry(const MapLine& line, void* context) {
  auto& writer = *static_cast<SnapshotWriter*>(context);
  Record record;
  record.kind = RecordKind::kMapEntry;
  record.timestamp = NowNanoseconds();
  record.address = line.begin;
  record.size = line.end - line.begin;
  record.prot =
      (line.readable ? PROT_READ : 0) | (line.writable ? PROT_WRITE : 0) | (line.executable ? PROT_EXEC : 0);
  record.map_flags = line.shared ? MAP_SHARED : MAP_PRIVATE;
  record.offset = line.offset;
  record.count = line.inode;
  record.param = writer.sequence;
  record.bytes = reinterpret_cast<const uint8_t*>(line.path);
  record.byte_count = line.path_length < format::kMaxMetaBytes ? line.path_length : format::kMaxMetaBytes;
  Append(*writer.thread, record);
  ++writer.entries;
  writer.fingerprint = MixFingerprint(writer.fingerprint, line.begin, line.end, line.offset, line.inode,
                                      static_cast<uint32_t>(record.prot), line.path, line.path_length);
}

}  // namespace

void EmitMapsSnapshot(ThreadState& thread, format::SnapshotReason reason) {
  SnapshotWriter writer{&thread, next_snapshot.fetch_add(1, std::memory_order_relaxed), 0, 0};
  if (!ForEachMapping(EmitMapEntry, &writer)) return;
  NoteSnapshotFingerprint(writer.fingerprint);
  Record end;
  end.kind = RecordKind::kMapsSnapshotEnd;
  end.timestamp = NowNanoseconds();
  end.param = writer.sequence;
  end.count = writer.entries;
  end.prot = static_cast<uint64_t>(reason);
  Append(thread, end);
}

char* const* EnvironmentForExec(char* const* envp, char** storage, size_t capacity, char* entry,
                                size_t entry_size) {
  if (!envp || tracer_state.load(std::memory_order_acquire) != TracerState::kReady) return envp;
  const char* prefix = "MEMTRACE_PARENT_TRACE=";
  size_t used = 0;
  for (const char* p = prefix; *p && used + 1 < entry_size;) entry[used++] = *p++;
  char pid[24];
  int digits = 0;
  for (uint64_t value = static_cast<uint64_t>(getpid()); value || !digits; value /= 10) {
    pid[digits++] = static_cast<char>('0' + value % 10);
  }
  while (digits && used + 1 < entry_size) entry[used++] = pid[--digits];
  if (used + 1 < entry_size) entry[used++] = ':';
  for (const char* p = TracePath(); *p && used + 1 < entry_size;) entry[used++] = *p++;
  entry[used] = 0;
  // Only an image that will be traced (its environment still preloads memtrace) needs the name.
  bool traced = false;
  for (char* const* e = envp; *e && !traced; ++e) {
    traced = strncmp(*e, "LD_PRELOAD=", 11) == 0 && strstr(*e, "libmemtrace") != nullptr;
  }
  if (!traced) return envp;
  size_t count = 0;
  for (char* const* e = envp; *e; ++e) {
    if (strncmp(*e, prefix, strlen(prefix)) == 0) continue;
    if (count + 2 >= capacity) return envp;
    storage[count++] = *e;
  }
  storage[count++] = entry;
  storage[count] = nullptr;
  return storage;
}

}  // namespace memtrace::preload

namespace {

// What a new thread needs to start: the program's routine and argument, handed over in a slot of a
// fixed table rather than a heap block: a free() in the new thread would set up its tcache, and with
// it an arena the untraced program would not have. Slots are claimed with a compare-and-swap by the
// creating thread and released by the new thread once it has copied its slot.
struct ThreadStart {
  std::atomic<bool> taken;
  void* (*routine)(void*);
  void* argument;
};

constexpr size_t kThreadStartSlots = 1024;
ThreadStart thread_starts[kThreadStartSlots];
std::atomic<size_t> next_thread_start{0};

// A free slot, or null if all are in use (the thread then starts untracked by the trampoline).
ThreadStart* ClaimThreadStart() {
  for (size_t tries = 0; tries < kThreadStartSlots; ++tries) {
    ThreadStart& slot =
        thread_starts[next_thread_start.fetch_add(1, std::memory_order_relaxed) % kThreadStartSlots];
    bool expected = false;
    if (slot.taken.compare_exchange_strong(expected, true, std::memory_order_acquire)) return &slot;
  }
  return nullptr;
}

// Records a new thread's stack, from the thread that created it: asking from inside the new thread
// would allocate there (pthread_getattr_np reallocs a cpu set) and make glibc give it an arena of its
// own that the untraced program would not have.
void RecordThreadStack(pthread_t thread) {
  HookScope scope;
  if (!scope.active()) return;
  pthread_attr_t attributes;
  void* stack = nullptr;
  size_t size = 0, guard = 0;
  {
    InternalWork work;  // pthread_getattr_np allocates (the affinity mask) through malloc
    if (pthread_getattr_np(thread, &attributes) != 0) return;
    pthread_attr_getstack(&attributes, &stack, &size);
    pthread_attr_getguardsize(&attributes, &guard);
    pthread_attr_destroy(&attributes);
  }
  Record record;
  record.kind = RecordKind::kThreadStack;
  record.timestamp = NowNanoseconds();
  record.address = reinterpret_cast<uint64_t>(stack);
  record.size = size;
  record.old_size = guard;
  record.count = thread_state.tid;
  scope.Emit(record);
}

void* StartThread(void* raw) {
  auto* slot = static_cast<ThreadStart*>(raw);
  void* (*routine)(void*) = slot->routine;
  void* argument = slot->argument;
  slot->taken.store(false, std::memory_order_release);
  void* result = routine(argument);
  HookScope scope;
  if (scope.active()) {
    Record record;
    record.kind = RecordKind::kThreadEnd;
    record.timestamp = NowNanoseconds();
    record.count = thread_state.tid;
    scope.Emit(record);
  }
  return result;
}

// Says, before an exec replaces the image, that this trace ends here; in a vfork child, that the
// child leaves its parent's memory (the exec'd image's trace names the parent's).
void RecordExec(const char* what) {
  HookScope scope;
  if (!scope.active()) return;
  if (thread_state.vfork_parent) {
    NoteVforkChildEnd(memtrace::format::EndReason::kExec, 0, what);
    return;
  }
  Record record;
  record.kind = RecordKind::kProcessEnd;
  record.timestamp = NowNanoseconds();
  record.param = static_cast<int64_t>(memtrace::format::EndReason::kExec);
  record.result = -1;
  scope.Emit(record);
}

void RecordLibrary(const char* path, bool opened) {
  HookScope scope;
  if (!scope.active()) return;
  Record record;
  record.kind = RecordKind::kLibraryEvent;
  record.timestamp = NowNanoseconds();
  record.param = opened ? 1 : 0;
  if (path) {
    record.bytes = reinterpret_cast<const uint8_t*>(path);
    record.byte_count = static_cast<uint32_t>(strnlen(path, memtrace::format::kMaxMetaBytes));
  }
  scope.Emit(record);
  EmitModules(thread_state);
  EmitMapsSnapshot(thread_state, opened ? memtrace::format::SnapshotReason::kDlopen
                                        : memtrace::format::SnapshotReason::kDlclose);
}

// Runs `call(envp)` with the parent-trace variable added: the exec family's common part. `what`: the
// path or file name (null for fexecve).
template <typename Call>
int TracedExec(const char* what, char* const* envp, Call call) {
  RecordExec(what);
  char* storage[kMaxEnvironment];
  char entry[4200];
  int result = call(EnvironmentForExec(envp, storage, kMaxEnvironment, entry, sizeof entry));
  return result;  // only reached if the exec failed; the trace simply continues
}

template <typename Fn>
Fn* Resolved(Fn*& slot, const char* name) {
  if (!slot) slot = reinterpret_cast<Fn*>(dlsym(RTLD_NEXT, name));
  return slot;
}

// Collects an execl-style variadic argument list into `argv` (at most `capacity` entries).
bool CollectArguments(const char* first, va_list& args, char** argv, size_t capacity) {
  size_t count = 0;
  argv[count++] = const_cast<char*>(first);
  while (true) {
    if (count == capacity) return false;
    char* next = va_arg(args, char*);
    argv[count++] = next;
    if (!next) return true;
  }
}

// The execl family: collects the argument list (and, for execle, the environment after it), then
// calls `exec(argv, envp)`.
template <typename Exec>
int ExecArgumentList(const char* first, va_list& args, bool environment_follows, Exec exec) {
  constexpr size_t kMaxArguments = 1024;
  char* argv[kMaxArguments];
  if (!CollectArguments(first, args, argv, kMaxArguments)) {
    errno = E2BIG;
    return -1;
  }
  char* const* envp = environment_follows ? va_arg(args, char* const*) : environ;
  return exec(argv, envp);
}

// A snapshot if a libc call mapped files (see maps_watch.h).
void SnapshotAfterLibcCall() {
  int saved = errno;
  HookScope scope;
  if (scope.active()) SnapshotIfFilesChanged(thread_state, memtrace::format::SnapshotReason::kLibcCall);
  errno = saved;
}

// The parent's side of a fork: which child it made.
void RecordFork(pid_t child) {
  int saved = errno;
  HookScope scope;
  if (scope.active()) {
    Record record;
    record.kind = RecordKind::kFork;
    record.timestamp = NowNanoseconds();
    record.param = child;
    scope.Emit(record);
  }
  errno = saved;
}

}  // namespace

extern "C" {

MEMTRACE_EXPORT pid_t fork(void) {
  pid_t pid = Resolved(real.fork, "fork")();
  if (pid > 0) RecordFork(pid);
  return pid;
}

// glibc's fork without the atfork handlers (for async-signal-safe forking): the child would go on
// writing into the parent's trace, so it is given its own here.
MEMTRACE_EXPORT pid_t _Fork(void) {
  pid_t pid = Resolved(real._Fork, "_Fork")();
  int saved = errno;
  if (pid == 0) AfterForkInChild();
  if (pid > 0) RecordFork(pid);
  errno = saved;
  return pid;
}

MEMTRACE_EXPORT int pthread_create(pthread_t* thread, const pthread_attr_t* attributes,
                                   void* (*routine)(void*), void* argument) {
  auto* create = Resolved(real.pthread_create, "pthread_create");
  OrderStampsAcrossThreads();  // before the thread can take a block this one releases
  ThreadStart* start =
      tracer_state.load(std::memory_order_acquire) == TracerState::kReady ? ClaimThreadStart() : nullptr;
  if (!start) return create(thread, attributes, routine, argument);
  if (!thread_state.tid) thread_state.tid = CurrentTid();
  start->routine = routine;
  start->argument = argument;
  int result = create(thread, attributes, StartThread, start);
  if (result != 0) {
    start->taken.store(false, std::memory_order_release);
    return result;
  }
  // A detached thread may already have finished and given its stack back: only ask about joinable ones.
  int detach_state = PTHREAD_CREATE_JOINABLE;
  if (attributes) pthread_attr_getdetachstate(attributes, &detach_state);
  if (detach_state == PTHREAD_CREATE_JOINABLE) {
    int saved = errno;
    RecordThreadStack(*thread);
    errno = saved;
  }
  return result;
}

MEMTRACE_EXPORT int execve(const char* path, char* const argv[], char* const envp[]) {
  return TracedExec(path, envp,
                    [&](char* const* env) { return Resolved(real.execve, "execve")(path, argv, env); });
}

MEMTRACE_EXPORT int execvpe(const char* file, char* const argv[], char* const envp[]) {
  return TracedExec(file, envp,
                    [&](char* const* env) { return Resolved(real.execvpe, "execvpe")(file, argv, env); });
}

MEMTRACE_EXPORT int fexecve(int fd, char* const argv[], char* const envp[]) {
  return TracedExec(nullptr, envp,
                    [&](char* const* env) { return Resolved(real.fexecve, "fexecve")(fd, argv, env); });
}

MEMTRACE_EXPORT int execv(const char* path, char* const argv[]) { return execve(path, argv, environ); }

MEMTRACE_EXPORT int execvp(const char* file, char* const argv[]) { return execvpe(file, argv, environ); }

MEMTRACE_EXPORT int execl(const char* path, const char* first, ...) {
  va_list args;
  va_start(args, first);
  int result = ExecArgumentList(first, args, false,
                                [&](char** argv, char* const* envp) { return execve(path, argv, envp); });
  va_end(args);
  return result;
}

MEMTRACE_EXPORT int execlp(const char* file, const char* first, ...) {
  va_list args;
  va_start(args, first);
  int result = ExecArgumentList(first, args, false,
                                [&](char** argv, char* const* envp) { return execvpe(file, argv, envp); });
  va_end(args);
  return result;
}

MEMTRACE_EXPORT int execle(const char* path, const char* first, ...) {
  va_list args;
  va_start(args, first);
  int result = ExecArgumentList(first, args, true,
                                [&](char** argv, char* const* envp) { return execve(path, argv, envp); });
  va_end(args);
  return result;
}

MEMTRACE_EXPORT void* dlopen(const char* path, int flags) {
  void* handle = Resolved(real.dlopen, "dlopen")(path, flags);
  NoteLibrariesChanged();  // the unwinder's module index must see the new module
  if (handle && thread_state.depth == 0) RecordLibrary(path, true);
  return handle;
}

MEMTRACE_EXPORT int dlclose(void* handle) {
  int result = Resolved(real.dlclose, "dlclose")(handle);
  NoteLibrariesChanged();  // the unwinder must not search a closed module's tables
  if (result == 0 && thread_state.depth == 0) RecordLibrary(nullptr, false);
  return result;
}

// libc maps locale archives and gconv files with its internal mmap: look at the maps after these.
MEMTRACE_EXPORT char* setlocale(int category, const char* locale) {
  char* result = Resolved(real.setlocale, "setlocale")(category, locale);
  if (locale) SnapshotAfterLibcCall();  // a query (null locale) maps nothing
  return result;
}

MEMTRACE_EXPORT locale_t newlocale(int categories, const char* locale, locale_t base) {
  locale_t result = Resolved(real.newlocale, "newlocale")(categories, locale, base);
  SnapshotAfterLibcCall();
  return result;
}

MEMTRACE_EXPORT iconv_t iconv_open(const char* to, const char* from) {
  iconv_t result = Resolved(real.iconv_open, "iconv_open")(to, from);
  SnapshotAfterLibcCall();
  return result;
}

}  // extern "C"

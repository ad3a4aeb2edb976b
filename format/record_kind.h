// Every kind of record a trace can hold, declared once.
//
// Call records describe one hooked call. Their payload is a fixed sequence of fields chosen by the
// kind's shape (see record_layout.h). Meta records describe the process rather than a call.
// Numeric values are part of the file format: append, never renumber.
#pragma once

#include <cstdint>

namespace memtrace::format {

// How a call record's payload is laid out; record_layout.h documents each shape's fields.
enum class Shape : uint8_t {
  kAlloc,         // size, address, chunk facts
  kArrayAlloc,    // count, element size, address, chunk facts
  kAlignedAlloc,  // alignment, size, address, chunk facts (posix_memalign adds its return code)
  kRealloc,       // old address, size, address, chunk facts
  kArrayRealloc,  // old address, count, element size, address, chunk facts
  kRelease,       // address, size hint, alignment hint, chunk facts of the block being released
  kMmap,          // hint, length, prot, flags, fd, offset, address
  kMunmap,        // address, length, result
  kMremap,        // old address, old length, new length, flags, address
  kMprotect,      // address, length, prot or advice, result
  kBrk,           // requested break, result
  kSbrk,          // increment, address (the old break on success)
  kMallopt,       // parameter, value, result
  kMeta,          // not a call: see MetaKind
};

// X(enumerator, wire value, name shown to users, shape, is an allocation that yields a block)
#define MEMTRACE_CALL_KINDS(X)                                          \
  X(kMalloc, 1, "malloc", kAlloc, true)                                 \
  X(kCalloc, 2, "calloc", kArrayAlloc, true)                            \
  X(kRealloc, 3, "realloc", kRealloc, true)                             \
  X(kReallocArray, 4, "reallocarray", kArrayRealloc, true)              \
  X(kFree, 5, "free", kRelease, false)                                  \
  X(kPosixMemalign, 6, "posix_memalign", kAlignedAlloc, true)           \
  X(kAlignedAlloc, 7, "aligned_alloc", kAlignedAlloc, true)             \
  X(kMemalign, 8, "memalign", kAlignedAlloc, true)                      \
  X(kValloc, 9, "valloc", kAlloc, true)                                 \
  X(kPvalloc, 10, "pvalloc", kAlloc, true)                              \
  X(kReallocRelease, 11, "realloc(release)", kRelease, false)           \
  X(kMmap, 12, "mmap", kMmap, false)                                    \
  X(kMmap64, 13, "mmap64", kMmap, false)                                \
  X(kMunmap, 14, "munmap", kMunmap, false)                              \
  X(kMremap, 15, "mremap", kMremap, false)                              \
  X(kMprotect, 16, "mprotect", kMprotect, false)                        \
  X(kMadvise, 17, "madvise", kMprotect, false)                          \
  X(kBrk, 18, "brk", kBrk, false)                                       \
  X(kSbrk, 19, "sbrk", kSbrk, false)                                    \
  X(kMallopt, 20, "mallopt", kMallopt, false)                           \
  X(kMallocTrim, 21, "malloc_trim", kMallopt, false)                    \
  X(kNew, 22, "operator new", kAlloc, true)                             \
  X(kNewArray, 23, "operator new[]", kAlloc, true)                      \
  X(kNewAligned, 24, "operator new(align)", kAlignedAlloc, true)        \
  X(kNewArrayAligned, 25, "operator new[](align)", kAlignedAlloc, true) \
  X(kDelete, 26, "operator delete", kRelease, false)                    \
  X(kDeleteArray, 27, "operator delete[]", kRelease, false)             \
  X(kDeleteAligned, 28, "operator delete(align)", kRelease, false)      \
  X(kDeleteArrayAligned, 29, "operator delete[](align)", kRelease, false)

// Meta records: facts about the process, not calls. Wire values start at 100.
#define MEMTRACE_META_KINDS(X)                                                                          \
  X(kStackDef, 100, "stack")           /* id, frame count, frames (first absolute, then deltas) */      \
  X(kModule, 101, "module")            /* load base, path, build id */                                  \
  X(kProcessEnd, 102, "process-end")   /* how the process ended, status */                              \
  X(kDropped, 103, "dropped")          /* calls passed through unrecorded (re-entry from a signal) */   \
  X(kEnvironment, 104, "environment")  /* one NAME=VALUE string that changes malloc's behaviour */      \
  X(kThreadStart, 105, "thread-start") /* parent tid */                                                 \
  X(kLeakClass, 106, "leak-class")     /* addr address, LeakClass, indirect bytes (definite leaders) */ \
  X(kLeakScan, 107, "leak-scan")       /* blocks, root bytes scanned, duration ns */                    \
  X(kStartupBreakMove, 108, "memtrace start-up") /* brk before, brk after: malloc calls made while      \
                                                    memtrace itself loaded (dlopen of libunwind) */     \
  /* The kinds below share one generic layout (see record_codec.h, "generic meta"). */                  \
  X(kMapEntry, 109, "map")                  /* one /proc/self/maps line of snapshot `param` */          \
  X(kMapsSnapshotEnd, 110, "maps-snapshot") /* snapshot `param` is complete: `count` entries */         \
  X(kThreadStack, 111, "thread-stack")      /* a new thread's stack: address, size, guard old_size */   \
  X(kThreadEnd, 112, "thread-end")          /* the thread `count` (tid) returned from its start */      \
  X(kFork, 113, "fork")                     /* fork() returned child pid `param` in the parent */       \
  X(kOwnMapping, 114, "memtrace mapping")   /* memtrace's own memory: address, size; param 1 born,      \
                                               0 gone */                                                \
  X(kLibraryEvent, 115, "library")          /* dlopen (param 1) or dlclose (0) of path bytes */         \
  X(kArenaHeap, 116, "arena heap")          /* a thread arena's heap at address: reserved size,         \
                                               read-write old_size (heap_info), as first seen */        \
  X(kThreadsParked, 117, "threads parked")  /* the leak scan stopped `count` other threads to see their \
                                               registers, skipped `size`, in `param` ns */              \
  X(kVfork, 118, "vfork")                   /* in the parent, when it resumes: vfork() returned `param` \
                                               (child pid, or -1 with errno `count`); how the child     \
                                               left: EndReason old_size (0: unknown), status `size`,    \
                                               exec'd path bytes */                                     \
  X(kVforkChild, 119, "vfork child")        /* first record of a vfork child's chunk, before its first  \
                                               call: pid `param` (the chunk's tid), in the memory of    \
                                               thread `count` */                                        \
  X(kPosixSpawn, 120, "posix_spawn")        /* returned `param` (0 or errno), child pid `count`, path   \
                                               bytes; glibc's transient child stack: length `size`      \
                                               (0: none), prot, map_flags */                            \
  X(kPosixSpawnp, 121, "posix_spawnp")      /* as kPosixSpawn; bytes: the file name searched in PATH */

enum class RecordKind : uint8_t {
#define MEMTRACE_ENUMERATOR(name, value, ...) name = value,
  MEMTRACE_CALL_KINDS(MEMTRACE_ENUMERATOR) MEMTRACE_META_KINDS(MEMTRACE_ENUMERATOR)
#undef MEMTRACE_ENUMERATOR
};

inline constexpr uint8_t kFirstMetaKind = 100;
inline constexpr uint8_t kFirstGenericMetaKind = 109;

// The reason a snapshot of /proc/self/maps was taken (kMapsSnapshotEnd's `prot` field).
// Why a /proc/self/maps snapshot was taken. kPeriodic and kLibcCall are written only when the file-backed
// mappings changed since the previous snapshot (preload/maps_watch.h).
enum class SnapshotReason : uint8_t { kStart = 1, kExit, kDlopen, kDlclose, kPeriodic, kLibcCall };

inline constexpr bool IsMeta(RecordKind kind) { return static_cast<uint8_t>(kind) >= kFirstMetaKind; }

// Returns the shape of a known kind; sets *known = false for values no version of the format defines.
inline constexpr Shape ShapeOf(RecordKind kind, bool* known = nullptr) {
  if (known) *known = true;
  switch (kind) {
#define MEMTRACE_SHAPE_CASE(name, value, label, shape, ...) \
  case RecordKind::name: return Shape::shape;
    MEMTRACE_CALL_KINDS(MEMTRACE_SHAPE_CASE)
#undef MEMTRACE_SHAPE_CASE
#define MEMTRACE_META_CASE(name, ...) case RecordKind::name:
    MEMTRACE_META_KINDS(MEMTRACE_META_CASE)
#undef MEMTRACE_META_CASE
    return Shape::kMeta;
  }
  if (known) *known = false;
  return Shape::kMeta;
}

inline constexpr const char* NameOf(RecordKind kind) {
  switch (kind) {
#define MEMTRACE_NAME_CASE(name, value, label, ...) \
  case RecordKind::name: return label;
    MEMTRACE_CALL_KINDS(MEMTRACE_NAME_CASE) MEMTRACE_META_KINDS(MEMTRACE_NAME_CASE)
#undef MEMTRACE_NAME_CASE
  }
  return "unknown";
}

// True for calls that hand out a block the program must later release.
inline constexpr bool YieldsBlock(RecordKind kind) {
  switch (kind) {
#define MEMTRACE_YIELDS_CASE(name, value, label, shape, yields) \
  case RecordKind::name: return yields;
    MEMTRACE_CALL_KINDS(MEMTRACE_YIELDS_CASE)
#undef MEMTRACE_YIELDS_CASE
    default: return false;
  }
}

// How a process ended, in kProcessEnd records.
enum class EndReason : uint8_t {
  kExit = 1,        // exit() or return from main: library destructors ran
  kUnderscoreExit,  // _exit/_Exit: no destructors
  kSignal,          // a fatal signal the preload saw
  kExec,            // the image was replaced by exec; the next trace continues the process
};

// What the exit-time pointer scan found for a block still allocated, in valgrind's four classes.
enum class LeakClass : uint8_t {
  kReachable = 1,  // a chain of start pointers from a root ("still reachable")
  kPossible,       // reachable only through interior pointers ("possibly lost")
  kIndirect,       // reachable only from definitely lost blocks ("indirectly lost")
  kDefinite,       // no pointer to it at all ("definitely lost")
};

}  // namespace memtrace::format

// Entry and exit of every hook: re-entry guard, lazy initialization and errno preservation.
//
// Only the outermost hooked call of a thread is recorded: operator new -> malloc, memtrace's own work
// and a signal handler interrupting a hook all see depth > 0 and go straight to the real function.
// The signal handler's calls are counted as dropped; calls made under InternalWork are not.
#pragma once

#include <errno.h>

#include <atomic>

#include "preload/chunk_inspector.h"
#include "preload/maps_watch.h"
#include "preload/stack_capture.h"
#include "preload/thread_state.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

enum class TracerState : int { kUninitialized, kInitializing, kReady, kDisabled };
extern std::atomic<TracerState> tracer_state;
extern bool stacks_enabled;  // set once by InitializeTracer
// Releases carry stacks only if MEMTRACE_FREE_STACKS=1: unwinding is most of a hook's cost, and a
// free's stack matters only for reporting a mismatched or invalid release.
extern bool release_stacks;

// Runs once, on the first hooked call or in the constructor, whichever comes first. Returns true if
// the tracer is ready.
bool InitializeTracer();

// A pointer as the trace stores it.
inline uint64_t AddressOf(const void* p) { return reinterpret_cast<uint64_t>(p); }

// Marks memtrace's own calls into code that may call hooked functions (libstdc++'s operator new,
// pthread_getattr_np, the unwinder): the nested calls they make are memtrace's doing, not dropped.
class InternalWork {
 public:
  InternalWork() : thread_(thread_state) {
    ++thread_.depth;
    ++thread_.internal;
  }
  ~InternalWork() {
    --thread_.internal;
    --thread_.depth;
  }
  InternalWork(const InternalWork&) = delete;
  InternalWork& operator=(const InternalWork&) = delete;

 private:
  ThreadState& thread_;
};

class HookScope {
 public:
  HookScope() : thread_(thread_state) {
    if (thread_.depth) {
      // Re-entered: a signal handler interrupted a hook of this thread, unless memtrace itself called.
      if (!thread_.internal && tracer_state.load(std::memory_order_relaxed) == TracerState::kReady) {
        __atomic_fetch_add(&thread_.dropped, 1, __ATOMIC_RELAXED);
      }
      return;
    }
    thread_.depth = 1;
    if (tracer_state.load(std::memory_order_acquire) == TracerState::kReady || InitializeTracer()) {
      active_ = true;
    } else {
      thread_.depth = 0;
    }
  }
  ~HookScope() {
    if (active_) thread_.depth = 0;
  }
  HookScope(const HookScope&) = delete;
  HookScope& operator=(const HookScope&) = delete;

  // False when this call must only be forwarded: nested, re-entered, or the tracer is off.
  bool active() const { return active_; }

  // Records `record` with the caller's stack (captured once per hooked call), leaving errno as the
  // real function set it.
  void Emit(format::Record& record) {
    int saved = errno;
    if (stacks_enabled && !format::IsMeta(record.kind) &&
        (release_stacks || format::ShapeOf(record.kind) != format::Shape::kRelease)) {
      if (!stack_captured_) {
        if (thread_.unwound) {
          stack_id_ = CaptureStack(thread_, record.timestamp);
        } else {
          InternalWork first_unwind;  // libunwind's first use in a thread allocates its TLS via malloc
          stack_id_ = CaptureStack(thread_, record.timestamp);
          thread_.unwound = true;
        }
        stack_captured_ = true;
      }
      if (stack_id_) {
        record.flags |= format::kFlagHasStack;
        record.stack_id = stack_id_;
      }
    }
    Append(thread_, record);
    ReportArenaHeap(record);
    MaybeCheckMaps(thread_, record.timestamp);
    errno = saved;
  }

 private:
  // A thread arena's heap, the first time this thread allocates from it or when it grew: the
  // allocator's own mappings, which no hook sees.
  void ReportArenaHeap(const format::Record& record) {
    uint64_t base;
    const ArenaHeapInfo* info;
    if (!ChunkHeadersReadable() || !ArenaHeapChanged(record, thread_, &base, &info)) return;
    format::Record heap;
    heap.kind = format::RecordKind::kArenaHeap;
    heap.timestamp = record.timestamp;
    heap.address = base;
    heap.size = info->size;
    heap.old_size = info->writable_size;
    Append(thread_, heap);
  }

  ThreadState& thread_;
  bool active_ = false;
  bool stack_captured_ = false;
  uint32_t stack_id_ = 0;
};

}  // namespace memtrace::preload

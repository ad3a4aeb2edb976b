// Entry and exit of every hook: re-entry guard, lazy initialization and errno preservation.
//
// Only the outermost hooked call of a thread is recorded: operator new -> malloc, memtrace's own work
// and a signal handler interrupting a hook all see depth > 0 and go straight to the real function.
// The signal handler's calls are counted as dropped; calls made under InternalWork are not.
#pragma once

#include <errno.h>

#include <atomic>

#include "preload/brk_watch.h"
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

// The record of releasing `block`, stamped now and with its chunk facts read: taken before the real
// call, after which the chunk may be gone. `size` and `alignment`: sized and aligned delete's, else 0.
inline format::Record ReleaseRecord(format::RecordKind kind, const void* block, uint64_t size = 0,
                                    uint64_t alignment = 0) {
  format::Record record;
  record.kind = kind;
  record.timestamp = NowNanoseconds();
  record.address = AddressOf(block);
  record.size = size;
  record.alignment = alignment;
  InspectReleasedChunk(block, record);
  return record;
}

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
  // Always inlined, so that the frame it notes is the hook's own (see hook_frame_).
  [[gnu::always_inline]] HookScope() : thread_(thread_state), hook_frame_(__builtin_frame_address(0)) {
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
    if (!format::IsMeta(record.kind)) {
      if (uint32_t stack = StackFor(format::ShapeOf(record.kind), record.timestamp)) {
        record.flags |= format::kFlagHasStack;
        record.stack_id = stack;
      }
    }
    Append(thread_, record);
    ReportArenaHeap(record);
    MaybeCheckMaps(thread_, record.timestamp);
    errno = saved;
  }

  // Records an allocation of Shape::kAlloc (malloc, valloc, pvalloc, plain operator new) that returned
  // `block`. An ordinary heap chunk with nothing else to report (no break move, no new arena heap) is
  // encoded straight into the chunk, without a Record: this is most of every trace.
  void EmitAllocation(format::RecordKind kind, uint64_t size, void* block) {
    uint64_t timestamp = NowNanoseconds();
    if (block && chunk_headers_readable && !BreakMoved()) {
      uint64_t size_word = static_cast<const uint64_t*>(block)[-1];
      if (!(size_word & 2) && (!(size_word & 4) || ArenaHeapUnchanged(AddressOf(block), thread_))) {
        uint8_t flags = format::kFlagChunkRead | (size_word & 4 ? format::kFlagNonMainArena : 0);
        if (EmitFast(flags, format::Shape::kAlloc, timestamp,
                     [&](uint8_t* out, uint8_t all_flags, uint64_t at) {
                       return format::EncodeHeapAllocation(out, thread_.deltas, kind, all_flags, at, size,
                                                           AddressOf(block),
                                                           size_word & format::kChunkSizeMask, stack_id_);
                     }))
          return;
      }
    }
    format::Record record;
    record.kind = kind;
    record.size = size;
    EmitAllocationRecord(record, block, timestamp);
  }

  // Records an allocation that returned `block` at `timestamp`; `record` already holds the call's
  // kind and arguments. The general path, for every allocating call.
  void EmitAllocationRecord(format::Record& record, void* block, uint64_t timestamp) {
    record.timestamp = timestamp;
    record.address = AddressOf(block);
    InspectAllocatedChunk(block, record);
    NoteBreakMove(record);
    Emit(record);
  }

  // Records the release of `block`, which IsHeapChunk said before the real call was an ordinary heap
  // chunk, stamped `timestamp` (taken before the real call). `size` and `alignment` are sized and
  // aligned delete's arguments, else 0.
  void EmitHeapRelease(format::RecordKind kind, void* block, uint64_t size, uint64_t alignment,
                       uint64_t timestamp) {
    if (!BreakMoved() &&
        EmitFast(0, format::Shape::kRelease, timestamp, [&](uint8_t* out, uint8_t all_flags, uint64_t at) {
          return format::EncodeHeapRelease(out, thread_.deltas, kind, all_flags, at, AddressOf(block), size,
                                           alignment, stack_id_);
        }))
      return;
    format::Record record;
    record.kind = kind;
    record.timestamp = timestamp;
    record.address = AddressOf(block);
    record.size = size;
    record.alignment = alignment;
    NoteBreakMove(record);
    Emit(record);
  }

 private:
  // The stack to record with a call of `shape`, captured once per hooked call; 0 for none.
  uint32_t StackFor(format::Shape shape, uint64_t timestamp) {
    if (!stacks_enabled || (!release_stacks && shape == format::Shape::kRelease)) return 0;
    if (!stack_captured_) {
      if (thread_.unwound) {
        stack_id_ = CaptureStack(thread_, timestamp, hook_frame_);
      } else {
        InternalWork first_unwind;  // libunwind's first use in a thread allocates its TLS via malloc
        stack_id_ = CaptureStack(thread_, timestamp, hook_frame_);
        thread_.unwound = true;
      }
      stack_captured_ = true;
    }
    return stack_id_;
  }

  // The fast path's shared part: adds the stack, checks for room, encodes with `encode(out, flags,
  // timestamp)` and publishes. False (nothing written) when Append must take the call.
  template <typename Encode>
  bool EmitFast(uint8_t flags, format::Shape shape, uint64_t timestamp, Encode encode) {
    int saved = errno;
    if (StackFor(shape, timestamp)) flags |= format::kFlagHasStack;
    uint8_t* out = FastRecordRoom(thread_);
    if (out) {
      // Records of one thread never go back in time (see Append).
      uint64_t at = timestamp > thread_.deltas.last_timestamp ? timestamp : thread_.deltas.last_timestamp;
      PublishRecords(thread_, encode(out, flags, at));
      MaybeCheckMaps(thread_, timestamp);
    }
    errno = saved;
    return out != nullptr;
  }

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
  // The frame of the function that made this scope (libmemtrace.so keeps frame pointers): its return
  // address and saved RBP are the program's state at the call, where unwinding starts. If that
  // function is memtrace's own (a hook's helper), its frame is dropped with the rest of memtrace's.
  const void* hook_frame_;
  bool active_ = false;
  bool stack_captured_ = false;
  uint32_t stack_id_ = 0;
};

}  // namespace memtrace::preload

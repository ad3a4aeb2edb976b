// The malloc family. Each hook forwards to the real function, then records the call with glibc's
// chunk facts and any break move it caused. Allocations are stamped after the real call returns and
// releases before it runs (see format/trace_reader.h for why).
#include <errno.h>

#include "preload/brk_watch.h"
#include "preload/chunk_inspector.h"
#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/real_functions.h"

using memtrace::format::Record;
using memtrace::format::RecordKind;
using namespace memtrace::preload;

namespace {

// posix_memalign before dlsym found the real one (only reachable while memtrace initializes).
int PosixMemalignFallback(void** out, size_t alignment, size_t size) {
  if (alignment % sizeof(void*) != 0 || (alignment & (alignment - 1)) != 0 || alignment == 0) return EINVAL;
  void* block = real.memalign(alignment, size);
  if (!block) return ENOMEM;
  *out = block;
  return 0;
}

// realloc and reallocarray: a block that moved was released before the new one existed, so the
// release gets its own record stamped before the call.
template <typename Call>
void* TracedRealloc(Record& record, void* old_block, uint64_t new_bytes, Call call) {
  HookScope scope;
  if (!scope.active()) return call();
  Record release = ReleaseRecord(RecordKind::kReallocRelease, old_block);
  void* block = call();
  record.old_address = AddressOf(old_block);
  record.timestamp = NowNanoseconds();
  record.address = AddressOf(block);
  InspectAllocatedChunk(block, record);
  NoteBreakMove(record);
  if (old_block && block != old_block && (block || new_bytes == 0)) scope.Emit(release);
  scope.Emit(record);
  return block;
}

}  // namespace

extern "C" {

MEMTRACE_EXPORT void* malloc(size_t size) {
  HookScope scope;
  if (!scope.active()) return real.malloc(size);
  void* block = real.malloc(size);
  scope.EmitAllocation(RecordKind::kMalloc, size, block);
  return block;
}

MEMTRACE_EXPORT void* calloc(size_t count, size_t size) {
  HookScope scope;
  if (!scope.active()) return real.calloc(count, size);
  void* block = real.calloc(count, size);
  Record record;
  record.kind = RecordKind::kCalloc;
  record.count = count;
  record.size = size;
  scope.EmitAllocationRecord(record, block, NowNanoseconds());
  return block;
}

MEMTRACE_EXPORT void free(void* block) {
  if (!block) return real.free(block);
  HookScope scope;
  if (!scope.active()) return real.free(block);
  if (IsHeapChunk(block)) {
    uint64_t timestamp = NowNanoseconds();
    real.free(block);
    scope.EmitHeapRelease(RecordKind::kFree, block, 0, 0, timestamp);
    return;
  }
  Record record = ReleaseRecord(RecordKind::kFree, block);
  real.free(block);
  NoteBreakMove(record);
  scope.Emit(record);
}

MEMTRACE_EXPORT void* realloc(void* old_block, size_t size) {
  Record record;
  record.kind = RecordKind::kRealloc;
  record.size = size;
  return TracedRealloc(record, old_block, size, [&] { return real.realloc(old_block, size); });
}

MEMTRACE_EXPORT void* reallocarray(void* old_block, size_t count, size_t size) {
  Record record;
  record.kind = RecordKind::kReallocArray;
  record.count = count;
  record.size = size;
  // glibc's reallocarray is this overflow check and a realloc, which it calls through the hooked
  // symbol: doing it here keeps that inner call from looking like a re-entry.
  auto call = [&]() -> void* {
    size_t bytes;
    if (__builtin_mul_overflow(count, size, &bytes)) {
      errno = ENOMEM;
      return nullptr;
    }
    return real.realloc(old_block, bytes);
  };
  return TracedRealloc(record, old_block, count * size, call);
}

MEMTRACE_EXPORT int posix_memalign(void** out, size_t alignment, size_t size) {
  HookScope scope;
  auto call = [&] {
    return real.posix_memalign ? real.posix_memalign(out, alignment, size)
                               : PosixMemalignFallback(out, alignment, size);
  };
  if (!scope.active()) return call();
  int result = call();
  Record record;
  record.kind = RecordKind::kPosixMemalign;
  record.alignment = alignment;
  record.size = size;
  record.result = result;
  scope.EmitAllocationRecord(record, result == 0 ? *out : nullptr, NowNanoseconds());
  return result;
}

MEMTRACE_EXPORT void* aligned_alloc(size_t alignment, size_t size) {
  HookScope scope;
  if (!scope.active()) return real.aligned_alloc(alignment, size);
  void* block = real.aligned_alloc(alignment, size);
  Record record;
  record.kind = RecordKind::kAlignedAlloc;
  record.alignment = alignment;
  record.size = size;
  scope.EmitAllocationRecord(record, block, NowNanoseconds());
  return block;
}

MEMTRACE_EXPORT void* memalign(size_t alignment, size_t size) {
  HookScope scope;
  if (!scope.active()) return real.memalign(alignment, size);
  void* block = real.memalign(alignment, size);
  Record record;
  record.kind = RecordKind::kMemalign;
  record.alignment = alignment;
  record.size = size;
  scope.EmitAllocationRecord(record, block, NowNanoseconds());
  return block;
}

MEMTRACE_EXPORT void* valloc(size_t size) {
  HookScope scope;
  if (!scope.active()) return real.valloc(size);
  void* block = real.valloc(size);
  scope.EmitAllocation(RecordKind::kValloc, size, block);
  return block;
}

MEMTRACE_EXPORT void* pvalloc(size_t size) {
  HookScope scope;
  if (!scope.active()) return real.pvalloc(size);
  void* block = real.pvalloc(size);
  scope.EmitAllocation(RecordKind::kPvalloc, size, block);
  return block;
}

MEMTRACE_EXPORT int mallopt(int param, int value) {
  HookScope scope;
  if (!scope.active()) return real.mallopt(param, value);
  int result = real.mallopt(param, value);
  Record record;
  record.kind = RecordKind::kMallopt;
  record.timestamp = NowNanoseconds();
  record.param = param;
  record.value = value;
  record.result = result;
  scope.Emit(record);
  return result;
}

MEMTRACE_EXPORT int malloc_trim(size_t pad) {
  HookScope scope;
  if (!scope.active() || !real.malloc_trim) return real.malloc_trim ? real.malloc_trim(pad) : 0;
  int result = real.malloc_trim(pad);
  Record record;
  record.kind = RecordKind::kMallocTrim;
  record.timestamp = NowNanoseconds();
  record.param = static_cast<int64_t>(pad);
  record.result = result;
  NoteBreakMove(record);
  scope.Emit(record);
  return result;
}

}  // extern "C"

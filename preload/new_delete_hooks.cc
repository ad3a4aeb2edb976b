// libstdc++'s operator new and delete, all twenty variants, recorded as kinds of their own so that
// mismatched pairs (new/free, new[]/delete, malloc/delete) can be found.
//
// libmemtrace.so is built without exceptions, yet operator new must throw std::bad_alloc exactly as
// libstdc++'s does. So the hook asks libstdc++'s nothrow variant first (which catches internally);
// only if that fails does it call the throwing variant, outside any memtrace state, and let the
// exception pass through (our frames have unwind tables and hold nothing that needs cleaning up).
#include <dlfcn.h>
#include <string.h>

#include <atomic>
#include <cstddef>
#include <new>

#include "preload/brk_watch.h"
#include "preload/chunk_inspector.h"
#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/real_functions.h"

using memtrace::format::Record;
using memtrace::format::RecordKind;
using namespace memtrace::preload;

namespace {

using Nothrow = const std::nothrow_t&;
using Align = std::align_val_t;

// The next definition of `symbol` (libstdc++'s), looked up on first use: a C program may load
// libstdc++ only later, with a dlopen'ed library.
template <typename Fn>
Fn* Next(Fn*& slot, const char* symbol) {
  if (!slot) slot = reinterpret_cast<Fn*>(dlsym(RTLD_NEXT, symbol));
  return slot;
}

void* (*next_new)(size_t);
void* (*next_new_array)(size_t);
void* (*next_new_nothrow)(size_t, Nothrow);
void* (*next_new_array_nothrow)(size_t, Nothrow);
void* (*next_new_aligned)(size_t, Align);
void* (*next_new_array_aligned)(size_t, Align);
void* (*next_new_aligned_nothrow)(size_t, Align, Nothrow);
void* (*next_new_array_aligned_nothrow)(size_t, Align, Nothrow);
void (*next_delete)(void*);
void (*next_delete_array)(void*);
void (*next_delete_sized)(void*, size_t);
void (*next_delete_array_sized)(void*, size_t);
void (*next_delete_aligned)(void*, Align);
void (*next_delete_array_aligned)(void*, Align);
void (*next_delete_sized_aligned)(void*, size_t, Align);
void (*next_delete_array_sized_aligned)(void*, size_t, Align);
void (*next_delete_nothrow)(void*, Nothrow);
void (*next_delete_array_nothrow)(void*, Nothrow);
void (*next_delete_aligned_nothrow)(void*, Align, Nothrow);
void (*next_delete_array_aligned_nothrow)(void*, Align, Nothrow);

// Records a successful or failed allocation of `size` bytes (alignment 0: none asked).
void* RecordNew(HookScope& scope, RecordKind kind, size_t size, size_t alignment, void* block) {
  if (!alignment) {
    scope.EmitAllocation(kind, size, block);
    return block;
  }
  Record record;
  record.kind = kind;
  record.size = size;
  record.alignment = alignment;
  scope.EmitAllocationRecord(record, block, NowNanoseconds());
  return block;
}

// libstdc++'s plain operator new is `malloc(size ? size : 1)` in a new-handler loop, and its plain and
// sized delete are `free`. When those are the definitions the program reaches (libstdc++'s new and
// delete, memtrace's malloc and free, glibc's allocator behind them), the hooks call glibc directly:
// this skips libstdc++'s nothrow wrapper (a try/catch frame) and a nested hook per call. Anything else
// (a library defining its own operator new, an executable with its own malloc) keeps the forwarding.
// Decided on first use; a benign race decides twice, the same way.
enum class Direct : int { kUnknown, kYes, kNo };
std::atomic<Direct> direct_new_delete{Direct::kUnknown};

bool DefinedByLibstdcxx(void* function) {
  Dl_info info;
  return function && dladdr(function, &info) && info.dli_fname && strstr(info.dli_fname, "libstdc++");
}

bool DirectNewDelete() {
  Direct direct = direct_new_delete.load(std::memory_order_relaxed);
  if (direct != Direct::kUnknown) return direct == Direct::kYes;
  InternalWork work;  // dlsym and dladdr may allocate
  bool yes = ChunkHeadersReadable() && !DefinedBeforeUs("malloc") && !DefinedBeforeUs("free") &&
             DefinedByLibstdcxx(reinterpret_cast<void*>(Next(next_new, "_Znwm"))) &&
             DefinedByLibstdcxx(reinterpret_cast<void*>(Next(next_delete, "_ZdlPv")));
  direct_new_delete.store(yes ? Direct::kYes : Direct::kNo, std::memory_order_relaxed);
  return yes;
}

// A throwing new: try without throwing under the hook, fall back to the real throwing call outside.
template <typename TryNothrow, typename Throwing>
void* TracedNew(RecordKind kind, size_t size, size_t alignment, TryNothrow try_nothrow, Throwing throwing) {
  {
    HookScope scope;
    if (scope.active()) {
      void* block = !alignment && DirectNewDelete() ? real.malloc(size ? size : 1) : nullptr;
      if (!block) {
        InternalWork work;  // libstdc++'s operator new calls the hooked operator new and malloc
        block = try_nothrow();
      }
      if (block) return RecordNew(scope, kind, size, alignment, block);
    }
  }
  return throwing();  // may throw std::bad_alloc, as the program expects
}

template <typename Call>
void* TracedNothrowNew(RecordKind kind, size_t size, size_t alignment, Call call) {
  HookScope scope;
  if (!scope.active()) return call();
  void* block;
  {
    InternalWork work;
    block = call();
  }
  return RecordNew(scope, kind, size, alignment, block);
}

template <typename Call>
void TracedDelete(RecordKind kind, void* block, size_t size, size_t alignment, Call call) {
  if (!block) return call();
  HookScope scope;
  if (!scope.active()) return call();
  if (IsHeapChunk(block)) {
    uint64_t timestamp = NowNanoseconds();
    if (!alignment && DirectNewDelete()) {
      real.free(block);
    } else {
      InternalWork work;  // libstdc++'s operator delete calls the hooked free
      call();
    }
    scope.EmitHeapRelease(kind, block, size, alignment, timestamp);
    return;
  }
  Record record = ReleaseRecord(kind, block, size, alignment);
  {
    InternalWork work;
    call();
  }
  NoteBreakMove(record);
  scope.Emit(record);
}

size_t Bytes(Align alignment) { return static_cast<size_t>(alignment); }

}  // namespace

extern "C" {

// operator new(size_t) and operator new[](size_t)
MEMTRACE_EXPORT void* _Znwm(size_t size) {
  return TracedNew(
      RecordKind::kNew, size, 0,
      [&] { return Next(next_new_nothrow, "_ZnwmRKSt9nothrow_t")(size, std::nothrow); },
      [&] { return Next(next_new, "_Znwm")(size); });
}
MEMTRACE_EXPORT void* _Znam(size_t size) {
  return TracedNew(
      RecordKind::kNewArray, size, 0,
      [&] { return Next(next_new_array_nothrow, "_ZnamRKSt9nothrow_t")(size, std::nothrow); },
      [&] { return Next(next_new_array, "_Znam")(size); });
}
// operator new(size_t, align_val_t) and the array form
MEMTRACE_EXPORT void* _ZnwmSt11align_val_t(size_t size, Align alignment) {
  return TracedNew(
      RecordKind::kNewAligned, size, Bytes(alignment),
      [&] {
        return Next(next_new_aligned_nothrow, "_ZnwmSt11align_val_tRKSt9nothrow_t")(size, alignment,
                                                                                    std::nothrow);
      },
      [&] { return Next(next_new_aligned, "_ZnwmSt11align_val_t")(size, alignment); });
}
MEMTRACE_EXPORT void* _ZnamSt11align_val_t(size_t size, Align alignment) {
  return TracedNew(
      RecordKind::kNewArrayAligned, size, Bytes(alignment),
      [&] {
        return Next(next_new_array_aligned_nothrow, "_ZnamSt11align_val_tRKSt9nothrow_t")(size, alignment,
                                                                                          std::nothrow);
      },
      [&] { return Next(next_new_array_aligned, "_ZnamSt11align_val_t")(size, alignment); });
}
// nothrow forms
MEMTRACE_EXPORT void* _ZnwmRKSt9nothrow_t(size_t size, Nothrow tag) {
  return TracedNothrowNew(RecordKind::kNew, size, 0,
                          [&] { return Next(next_new_nothrow, "_ZnwmRKSt9nothrow_t")(size, tag); });
}
MEMTRACE_EXPORT void* _ZnamRKSt9nothrow_t(size_t size, Nothrow tag) {
  return TracedNothrowNew(RecordKind::kNewArray, size, 0,
                          [&] { return Next(next_new_array_nothrow, "_ZnamRKSt9nothrow_t")(size, tag); });
}
MEMTRACE_EXPORT void* _ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, Align alignment, Nothrow tag) {
  return TracedNothrowNew(RecordKind::kNewAligned, size, Bytes(alignment), [&] {
    return Next(next_new_aligned_nothrow, "_ZnwmSt11align_val_tRKSt9nothrow_t")(size, alignment, tag);
  });
}
MEMTRACE_EXPORT void* _ZnamSt11align_val_tRKSt9nothrow_t(size_t size, Align alignment, Nothrow tag) {
  return TracedNothrowNew(RecordKind::kNewArrayAligned, size, Bytes(alignment), [&] {
    return Next(next_new_array_aligned_nothrow, "_ZnamSt11align_val_tRKSt9nothrow_t")(size, alignment, tag);
  });
}

// operator delete: plain, sized, aligned, sized+aligned, nothrow; each with its array form.
MEMTRACE_EXPORT void _ZdlPv(void* block) {
  TracedDelete(RecordKind::kDelete, block, 0, 0, [&] { Next(next_delete, "_ZdlPv")(block); });
}
MEMTRACE_EXPORT void _ZdaPv(void* block) {
  TracedDelete(RecordKind::kDeleteArray, block, 0, 0, [&] { Next(next_delete_array, "_ZdaPv")(block); });
}
MEMTRACE_EXPORT void _ZdlPvm(void* block, size_t size) {
  TracedDelete(RecordKind::kDelete, block, size, 0, [&] { Next(next_delete_sized, "_ZdlPvm")(block, size); });
}
MEMTRACE_EXPORT void _ZdaPvm(void* block, size_t size) {
  TracedDelete(RecordKind::kDeleteArray, block, size, 0,
               [&] { Next(next_delete_array_sized, "_ZdaPvm")(block, size); });
}
MEMTRACE_EXPORT void _ZdlPvSt11align_val_t(void* block, Align alignment) {
  TracedDelete(RecordKind::kDeleteAligned, block, 0, Bytes(alignment),
               [&] { Next(next_delete_aligned, "_ZdlPvSt11align_val_t")(block, alignment); });
}
MEMTRACE_EXPORT void _ZdaPvSt11align_val_t(void* block, Align alignment) {
  TracedDelete(RecordKind::kDeleteArrayAligned, block, 0, Bytes(alignment),
               [&] { Next(next_delete_array_aligned, "_ZdaPvSt11align_val_t")(block, alignment); });
}
MEMTRACE_EXPORT void _ZdlPvmSt11align_val_t(void* block, size_t size, Align alignment) {
  TracedDelete(RecordKind::kDeleteAligned, block, size, Bytes(alignment),
               [&] { Next(next_delete_sized_aligned, "_ZdlPvmSt11align_val_t")(block, size, alignment); });
}
MEMTRACE_EXPORT void _ZdaPvmSt11align_val_t(void* block, size_t size, Align alignment) {
  TracedDelete(RecordKind::kDeleteArrayAligned, block, size, Bytes(alignment), [&] {
    Next(next_delete_array_sized_aligned, "_ZdaPvmSt11align_val_t")(block, size, alignment);
  });
}
MEMTRACE_EXPORT void _ZdlPvRKSt9nothrow_t(void* block, Nothrow tag) {
  TracedDelete(RecordKind::kDelete, block, 0, 0,
               [&] { Next(next_delete_nothrow, "_ZdlPvRKSt9nothrow_t")(block, tag); });
}
MEMTRACE_EXPORT void _ZdaPvRKSt9nothrow_t(void* block, Nothrow tag) {
  TracedDelete(RecordKind::kDeleteArray, block, 0, 0,
               [&] { Next(next_delete_array_nothrow, "_ZdaPvRKSt9nothrow_t")(block, tag); });
}
MEMTRACE_EXPORT void _ZdlPvSt11align_val_tRKSt9nothrow_t(void* block, Align alignment, Nothrow tag) {
  TracedDelete(RecordKind::kDeleteAligned, block, 0, Bytes(alignment), [&] {
    Next(next_delete_aligned_nothrow, "_ZdlPvSt11align_val_tRKSt9nothrow_t")(block, alignment, tag);
  });
}
MEMTRACE_EXPORT void _ZdaPvSt11align_val_tRKSt9nothrow_t(void* block, Align alignment, Nothrow tag) {
  TracedDelete(RecordKind::kDeleteArrayAligned, block, 0, Bytes(alignment), [&] {
    Next(next_delete_array_aligned_nothrow, "_ZdaPvSt11align_val_tRKSt9nothrow_t")(block, alignment, tag);
  });
}

}  // extern "C"

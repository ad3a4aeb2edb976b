// The program's own mapping and break calls: mmap, mmap64, munmap, mremap, mprotect, madvise, brk,
// sbrk. glibc's internal uses (malloc's heaps and mmapped chunks, thread stacks, the loader) do not
// come through here; malloc's are recovered from chunk headers and __curbrk instead.
#include <errno.h>
#include <stdarg.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "preload/brk_watch.h"
#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/real_functions.h"
#include "preload/stack_capture.h"

using memtrace::format::Record;
using memtrace::format::RecordKind;
using namespace memtrace::preload;

namespace {

// Used only if a hook runs before dlsym found the real function (during memtrace's own start-up).
void* SyscallResult(long value) { return reinterpret_cast<void*>(value); }

void* ForwardMmap(void* hint, size_t length, int prot, int flags, int fd, off_t offset) {
  if (real.mmap) return real.mmap(hint, length, prot, flags, fd, offset);
  return SyscallResult(syscall(SYS_mmap, hint, length, prot, flags, fd, offset));
}

// Each hook passes its own __builtin_return_address(0): the call site in the program (or in the
// unwinder memtrace loaded, whose calls are memtrace's own work).
bool CalledByUnwinder(const void* return_address) {
  return IsUnwinderCode(reinterpret_cast<uint64_t>(return_address));
}

// The unwinder's own mappings are memtrace's: recorded as such, so the maps reconstruction can
// account for them and hide them.
void EmitOwnMapping(HookScope& scope, const void* address, size_t length, bool born) {
  Record record;
  record.kind = RecordKind::kOwnMapping;
  record.timestamp = NowNanoseconds();
  record.address = AddressOf(address);
  record.size = length;
  record.param = born ? 1 : 0;
  scope.Emit(record);
}

void* TracedMmap(const void* caller, RecordKind kind, void* hint, size_t length, int prot, int flags, int fd,
                 off_t offset) {
  HookScope scope;
  if (!scope.active()) return ForwardMmap(hint, length, prot, flags, fd, offset);
  if (CalledByUnwinder(caller)) {
    void* result = ForwardMmap(hint, length, prot, flags, fd, offset);
    if (result != MAP_FAILED) EmitOwnMapping(scope, result, length, true);
    return result;
  }
  void* result = ForwardMmap(hint, length, prot, flags, fd, offset);
  Record record;
  record.kind = kind;
  record.timestamp = NowNanoseconds();
  record.old_address = AddressOf(hint);
  record.size = length;
  record.prot = static_cast<uint64_t>(prot);
  record.map_flags = static_cast<uint32_t>(flags);
  record.fd = fd;
  record.offset = static_cast<uint64_t>(offset);
  record.address = AddressOf(result);
  scope.Emit(record);
  return result;
}

// mprotect and madvise share a shape: address, length, one int argument, a result.
template <typename Call>
int TracedRangeCall(RecordKind kind, void* address, size_t length, int argument, Call call) {
  HookScope scope;
  if (!scope.active()) return call();
  int result = call();
  Record record;
  record.kind = kind;
  record.timestamp = NowNanoseconds();
  record.address = AddressOf(address);
  record.size = length;
  record.prot = static_cast<uint64_t>(argument);
  record.result = result;
  scope.Emit(record);
  return result;
}

}  // namespace

extern "C" {

MEMTRACE_EXPORT void* mmap(void* hint, size_t length, int prot, int flags, int fd, off_t offset) {
  return TracedMmap(__builtin_return_address(0), RecordKind::kMmap, hint, length, prot, flags, fd, offset);
}

// On x86-64 mmap64 is mmap under another name; a program built with _FILE_OFFSET_BITS=64 calls this one.
MEMTRACE_EXPORT void* mmap64(void* hint, size_t length, int prot, int flags, int fd, off_t offset) {
  return TracedMmap(__builtin_return_address(0), RecordKind::kMmap, hint, length, prot, flags, fd, offset);
}

MEMTRACE_EXPORT int munmap(void* address, size_t length) {
  auto call = [&] {
    return real.munmap ? real.munmap(address, length)
                       : static_cast<int>(syscall(SYS_munmap, address, length));
  };
  HookScope scope;
  if (!scope.active()) return call();
  if (CalledByUnwinder(__builtin_return_address(0))) {
    int result = call();
    if (result == 0) EmitOwnMapping(scope, address, length, false);
    return result;
  }
  Record record;
  record.kind = RecordKind::kMunmap;
  record.timestamp = NowNanoseconds();  // before: the range may be reused by another thread at once
  record.address = AddressOf(address);
  record.size = length;
  record.result = call();
  scope.Emit(record);
  return static_cast<int>(record.result);
}

MEMTRACE_EXPORT void* mremap(void* old_address, size_t old_length, size_t new_length, int flags, ...) {
  void* new_address = nullptr;
  if (flags & MREMAP_FIXED) {
    va_list args;
    va_start(args, flags);
    new_address = va_arg(args, void*);
    va_end(args);
  }
  auto call = [&] {
    if (real.mremap) return real.mremap(old_address, old_length, new_length, flags, new_address);
    return SyscallResult(syscall(SYS_mremap, old_address, old_length, new_length, flags, new_address));
  };
  HookScope scope;
  if (!scope.active()) return call();
  void* result = call();
  Record record;
  record.kind = RecordKind::kMremap;
  record.timestamp = NowNanoseconds();
  record.old_address = AddressOf(old_address);
  record.old_size = old_length;
  record.size = new_length;
  record.map_flags = static_cast<uint32_t>(flags);
  record.address = AddressOf(result);
  scope.Emit(record);
  return result;
}

MEMTRACE_EXPORT int mprotect(void* address, size_t length, int prot) {
  return TracedRangeCall(RecordKind::kMprotect, address, length, prot, [&] {
    return real.mprotect ? real.mprotect(address, length, prot)
                         : static_cast<int>(syscall(SYS_mprotect, address, length, prot));
  });
}

MEMTRACE_EXPORT int madvise(void* address, size_t length, int advice) {
  return TracedRangeCall(RecordKind::kMadvise, address, length, advice, [&] {
    return real.madvise ? real.madvise(address, length, advice)
                        : static_cast<int>(syscall(SYS_madvise, address, length, advice));
  });
}

MEMTRACE_EXPORT int brk(void* requested) {
  auto call = [&] {
    if (real.brk) return real.brk(requested);
    // What glibc's brk does, for the start-up window before dlsym ran.
    __curbrk = SyscallResult(syscall(SYS_brk, requested));
    if (__curbrk < requested) {
      errno = ENOMEM;
      return -1;
    }
    return 0;
  };
  HookScope scope;
  if (!scope.active()) return call();
  int result = call();
  Record record;
  record.kind = RecordKind::kBrk;
  record.timestamp = NowNanoseconds();
  record.old_address = AddressOf(requested);
  record.result = result;
  NoteBreakMove(record);
  scope.Emit(record);
  return result;
}

MEMTRACE_EXPORT void* sbrk(intptr_t increment) {
  HookScope scope;
  if (!scope.active()) return real.sbrk(increment);
  void* result = real.sbrk(increment);
  Record record;
  record.kind = RecordKind::kSbrk;
  record.timestamp = NowNanoseconds();
  record.param = increment;
  record.address = AddressOf(result);
  NoteBreakMove(record);
  scope.Emit(record);
  return result;
}

}  // extern "C"

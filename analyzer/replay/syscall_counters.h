// Counts the memory syscalls this process makes (mmap, munmap, mremap, brk), from any thread and from
// inside any allocator, with the kernel's syscall tracepoints as perf counters: no tracer, no
// interposition, nothing in the process's address space. Allocators reach the kernel through internal
// entry points (glibc's __mmap, tcmalloc's own mmap), which only the kernel sees.
//
// Needs the tracepoints' ids from tracefs (/sys/kernel/tracing or /sys/kernel/debug/tracing) and the
// right to open them (root, or perf_event_paranoid <= -1). available() says whether it worked.
//
// Inherited counters: threads created after Start() are counted; their counts join the total when they
// exit, so Read() after every replay thread has been joined.
#pragma once

#include <cstdint>

namespace memtrace::replay {

enum class CountedSyscall { kMmap, kMunmap, kMremap, kBrk, kCount };

class SyscallCounters {
 public:
  // Opens the counters, disabled. On failure available() is false and every count reads as 0.
  SyscallCounters();
  ~SyscallCounters();
  SyscallCounters(const SyscallCounters&) = delete;
  SyscallCounters& operator=(const SyscallCounters&) = delete;

  bool available() const { return available_; }
  void Start();
  void Stop();
  uint64_t Read(CountedSyscall which) const;

 private:
  int fds_[static_cast<int>(CountedSyscall::kCount)];
  bool available_ = false;
};

}  // namespace memtrace::replay

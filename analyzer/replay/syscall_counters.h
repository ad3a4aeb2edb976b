// Counts the memory syscalls this process makes (mmap, munmap, mremap, brk) from every thread and from
// inside any allocator, with no privileges and no tracefs: a seccomp filter traps each of them
// (SECCOMP_RET_TRAP), the SIGSYS handler counts the call and makes it itself from one forwarding
// instruction the filter lets through, and puts the kernel's result where the caller expects it.
//
// Why seccomp and not interposition: allocators reach the kernel through entry points no symbol
// interposition sees (glibc's malloc calls its internal __mmap and __brk; tcmalloc makes raw syscalls
// for its metadata). The kernel sees every call, and the filter is the kernel's view, so the counts are
// those of `strace -f` on the same process (where each counted call shows twice: the trapped attempt,
// a SIGSYS, and the forwarded call).
//
// Irreversible: a filter cannot be removed, so StartSyscallCounting is called once, when the counted
// part begins; threads created later inherit the filter. Every trapped call costs one signal delivery
// and a second kernel entry (measured: 4-7 us per plain 4 KiB mmap or munmap, 13-15 us trapped, on a
// busy VM), the reason only these four syscalls are trapped; allocators make few of them.
//
// A thread that makes one of these calls with SIGSYS blocked is killed by the kernel (it cannot deliver
// the trap). The replayer never blocks it; glibc blocks every signal only around clone, after the new
// thread's stack is mapped, and the new thread restores its mask before it runs anything else.
//
// Each call is charged to an owner: the allocator (the default), or what the current thread declared
// with a CountedAs scope (the replayer's own thread stacks, the program's replayed brk/sbrk).
#pragma once

#include <cstdint>

namespace memtrace::replay {

enum class CountedSyscall { kMmap, kMunmap, kMremap, kBrk, kCount };
enum class CallOwner { kAllocator, kProgram, kReplayer, kCount };

// Installs the SIGSYS handler and the filter. False with *error (a static string) if the kernel refuses
// (no seccomp filters); nothing is counted then.
bool StartSyscallCounting(const char** error);

// Calls counted so far. Exact for threads that have finished (or are joined); relaxed otherwise.
uint64_t SyscallCount(CountedSyscall which, CallOwner owner);

// Charges the calls this thread makes within the scope to `owner`. Concurrency contract: the owner is
// thread-local, so scopes on different threads are independent; scopes do not nest.
class CountedAs {
 public:
  explicit CountedAs(CallOwner owner);
  ~CountedAs();
  CountedAs(const CountedAs&) = delete;
  CountedAs& operator=(const CountedAs&) = delete;
};

}  // namespace memtrace::replay

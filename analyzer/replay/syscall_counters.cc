#include "analyzer/replay/syscall_counters.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>

// The one instruction allowed to make the trapped syscalls: the handler's forwarder. Arguments as a
// function call (nr, a1..a6 in rdi, rsi, rdx, rcx, r8, r9, stack), moved to the syscall registers.
// memtrace_forward_syscall_return is the address after `syscall`, which is what the kernel shows the
// filter as the instruction pointer.
extern "C" long memtrace_forward_syscall(long nr, long a1, long a2, long a3, long a4, long a5, long a6);
extern "C" char memtrace_forward_syscall_return[];
__asm__(
    ".text\n"
    ".globl memtrace_forward_syscall\n"
    ".hidden memtrace_forward_syscall\n"
    ".type memtrace_forward_syscall, @function\n"
    "memtrace_forward_syscall:\n"
    "  mov %rdi, %rax\n"
    "  mov %rsi, %rdi\n"
    "  mov %rdx, %rsi\n"
    "  mov %rcx, %rdx\n"
    "  mov %r8, %r10\n"
    "  mov %r9, %r8\n"
    "  mov 8(%rsp), %r9\n"
    "  syscall\n"
    ".globl memtrace_forward_syscall_return\n"
    ".hidden memtrace_forward_syscall_return\n"
    "memtrace_forward_syscall_return:\n"
    "  ret\n"
    ".size memtrace_forward_syscall, . - memtrace_forward_syscall\n");

namespace memtrace::replay {

namespace {

constexpr int kSyscalls = static_cast<int>(CountedSyscall::kCount);
constexpr int kOwners = static_cast<int>(CallOwner::kCount);
constexpr long kNumbers[kSyscalls] = {SYS_mmap, SYS_munmap, SYS_mremap, SYS_brk};

// Written from the SIGSYS handler of any thread: lock-free atomics only.
std::atomic<uint64_t> counts[kOwners][kSyscalls];
// Local-exec TLS in the executable: safe to read in a signal handler (no lazy allocation).
thread_local CallOwner current_owner = CallOwner::kAllocator;

int IndexOf(long nr) {
  for (int i = 0; i < kSyscalls; ++i) {
    if (kNumbers[i] == nr) return i;
  }
  return -1;
}

// Async-signal-safe: atomics, a TLS read and the forwarded syscall. errno is untouched: the caller's
// libc wrapper sets it from the result we put in rax, as it would have from the kernel's.
void OnSigsys(int, siginfo_t* info, void* context) {
  greg_t* registers = static_cast<ucontext_t*>(context)->uc_mcontext.gregs;
  int which = IndexOf(info->si_syscall);
  if (which < 0) {
    registers[REG_RAX] = -ENOSYS;  // the filter traps nothing else
    return;
  }
  counts[static_cast<int>(current_owner)][which].fetch_add(1, std::memory_order_relaxed);
  registers[REG_RAX] =
      memtrace_forward_syscall(info->si_syscall, registers[REG_RDI], registers[REG_RSI], registers[REG_RDX],
                               registers[REG_R10], registers[REG_R8], registers[REG_R9]);
}

sock_filter Load(uint32_t offset) { return BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offset); }
sock_filter JumpIfEqual(uint32_t value, uint8_t if_true, uint8_t if_false) {
  return BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, value, if_true, if_false);
}
sock_filter Return(uint32_t action) { return BPF_STMT(BPF_RET | BPF_K, action); }

}  // namespace

bool StartSyscallCounting(const char** error) {
  struct sigaction action = {};
  action.sa_sigaction = OnSigsys;
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&action.sa_mask);
  if (sigaction(SIGSYS, &action, nullptr) != 0) {
    *error = "cannot install the SIGSYS handler";
    return false;
  }
  uint64_t allowed = reinterpret_cast<uint64_t>(memtrace_forward_syscall_return);
  constexpr uint32_t kIpLow = offsetof(seccomp_data, instruction_pointer);
  constexpr uint32_t kIpHigh = kIpLow + 4;
  // Jump offsets count instructions after the jump.
  sock_filter program[] = {
      /* 0 */ Load(offsetof(seccomp_data, arch)),
      /* 1 */ JumpIfEqual(AUDIT_ARCH_X86_64, 0, 10),  // other ABIs: allow
      /* 2 */ Load(offsetof(seccomp_data, nr)),
      /* 3 */ JumpIfEqual(SYS_mmap, 4, 0),
      /* 4 */ JumpIfEqual(SYS_munmap, 3, 0),
      /* 5 */ JumpIfEqual(SYS_mremap, 2, 0),
      /* 6 */ JumpIfEqual(SYS_brk, 1, 0),
      /* 7 */ Return(SECCOMP_RET_ALLOW),
      /* 8 */ Load(kIpHigh),
      /* 9 */ JumpIfEqual(static_cast<uint32_t>(allowed >> 32), 0, 4),
      /* 10 */ Load(kIpLow),
      /* 11 */ JumpIfEqual(static_cast<uint32_t>(allowed), 1, 2),
      /* 12 */ Return(SECCOMP_RET_ALLOW),
      /* 13 */ Return(SECCOMP_RET_ALLOW),
      /* 14 */ Return(SECCOMP_RET_TRAP),
  };
  sock_fprog filter = {static_cast<unsigned short>(sizeof program / sizeof program[0]), program};
  // Unprivileged filters require no_new_privs; the replayer never executes anything, so it costs nothing.
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
      syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &filter) != 0) {
    *error = "the kernel refused a seccomp filter";
    return false;
  }
  return true;
}

uint64_t SyscallCount(CountedSyscall which, CallOwner owner) {
  return counts[static_cast<int>(owner)][static_cast<int>(which)].load(std::memory_order_relaxed);
}

CountedAs::CountedAs(CallOwner owner) { current_owner = owner; }
CountedAs::~CountedAs() { current_owner = CallOwner::kAllocator; }

}  // namespace memtrace::replay

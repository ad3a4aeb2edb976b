// Leaves no stale copy of a lost pointer where a leak checker looks for roots, so that a test
// program's blocks get the same leak class under valgrind and under memtrace whatever code ran before.
#pragma once

#include <string.h>

// Zeroes the registers a call may leave anything in (SysV x86-64: the caller-saved general registers
// and xmm0-15), which hold whatever the last calls put there: an allocator's (or its tracer's) last
// block. A thread's registers are roots when it is stopped for a scan or crashes, and the first call
// through a lazily bound PLT entry saves them all on the stack below the caller.
static inline __attribute__((always_inline)) void clear_scratch_registers(void) {
#if defined(__x86_64__)
  __asm__ volatile(
      "xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\txor %%esi, %%esi\n\t"
      "xor %%edi, %%edi\n\txor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\t"
      "xor %%r11d, %%r11d\n\t"
      "pxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\tpxor %%xmm3, %%xmm3\n\t"
      "pxor %%xmm4, %%xmm4\n\tpxor %%xmm5, %%xmm5\n\tpxor %%xmm6, %%xmm6\n\tpxor %%xmm7, %%xmm7\n\t"
      "pxor %%xmm8, %%xmm8\n\tpxor %%xmm9, %%xmm9\n\tpxor %%xmm10, %%xmm10\n\tpxor %%xmm11, %%xmm11\n\t"
      "pxor %%xmm12, %%xmm12\n\tpxor %%xmm13, %%xmm13\n\tpxor %%xmm14, %%xmm14\n\tpxor %%xmm15, %%xmm15" ::
          : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3",
            "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14",
            "xmm15", "memory");
#endif
}

// Clears the dead stack below the caller's frame (stale return values and spilled pointers) and the
// scratch registers, before the memset too: its first call may go through the lazy binder, which
// saves every register below this frame's area, where a thread memtrace cannot stop (its whole stack
// is scanned) would still show them.
static __attribute__((noinline)) void scrub_stack(void) {
  volatile char area[64 * 1024];
  clear_scratch_registers();
  memset((char*)area, 0, sizeof area);
  clear_scratch_registers();
}

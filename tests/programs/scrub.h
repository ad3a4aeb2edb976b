// Leaves no stale copy of a lost pointer where a leak checker looks for roots, so that a test
// program's blocks get the same leak class under valgrind and under memtrace whatever code ran before.
#pragma once

#include <string.h>

// Clears the dead stack below the caller's frame (stale return values and spilled pointers), and the
// caller-saved registers, which hold whatever the last calls left there (an allocator's, or its
// tracer's, last block): a thread's registers are roots when it is stopped for a scan or crashes.
static __attribute__((noinline)) void scrub_stack(void) {
  volatile char area[64 * 1024];
  memset((char*)area, 0, sizeof area);
#if defined(__x86_64__)
  __asm__ volatile(
      "xor %%eax, %%eax\n\txor %%ecx, %%ecx\n\txor %%edx, %%edx\n\txor %%esi, %%esi\n\t"
      "xor %%edi, %%edi\n\txor %%r8d, %%r8d\n\txor %%r9d, %%r9d\n\txor %%r10d, %%r10d\n\t"
      "xor %%r11d, %%r11d\n\tpxor %%xmm0, %%xmm0\n\tpxor %%xmm1, %%xmm1\n\tpxor %%xmm2, %%xmm2\n\t"
      "pxor %%xmm3, %%xmm3" ::
          : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "xmm0", "xmm1", "xmm2", "xmm3",
            "memory");
#endif
}

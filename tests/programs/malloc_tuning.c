// malloc_tuning: retunes glibc's malloc mid-run and moves the break itself, so a replay is faithful
// only if it makes the same mallopt, malloc_trim and brk/sbrk calls at the same places.
//   1. 12 x malloc(100 KiB): below the default 128 KiB mmap threshold, from the heap
//   2. mallopt(M_MMAP_THRESHOLD, 64 KiB), then 12 x malloc(100 KiB): now each is mmapped
//   3. mallopt(M_TOP_PAD, 512 KiB), mallopt(M_TRIM_THRESHOLD, 4 MiB): the heap grows in larger steps
//      and no free trims it
//   4. sbrk(+64 KiB) and brk(+8 KiB) of the program's own: glibc finds its heap end moved under it
//   5. frees, then malloc_trim(0) gives the heap's free top back: the break moves down
// Prints what the calls did, for the test to check the run was the one intended.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kBlocks = 12, kBlockSize = 100 * 1024, kSmall = 200 };

static void fill(void** blocks, int n, size_t size) {
  for (int i = 0; i < n; ++i) {
    blocks[i] = malloc(size);
    memset(blocks[i], i, size);
  }
}

int main(void) {
  static void* before[kBlocks];
  static void* after[kBlocks];
  static void* small[kSmall];
  fill(before, kBlocks, kBlockSize);
  int set_threshold = mallopt(M_MMAP_THRESHOLD, 64 * 1024);
  fill(after, kBlocks, kBlockSize);
  int set_pad = mallopt(M_TOP_PAD, 512 * 1024);
  int set_trim = mallopt(M_TRIM_THRESHOLD, 4 * 1024 * 1024);
  fill(small, kSmall / 2, 3000);

  char* own = sbrk(64 * 1024);
  memset(own, 1, 64 * 1024);
  int brk_result = brk((char*)sbrk(0) + 8192);
  fill(small + kSmall / 2, kSmall / 2, 3000);

  for (int i = 0; i < kBlocks; ++i) free(after[i]);
  for (int i = 0; i < kBlocks; ++i) free(before[i]);
  for (int i = 0; i < kSmall; ++i) free(small[i]);
  char* break_before_trim = sbrk(0);
  int trimmed = malloc_trim(0);
  char* break_after_trim = sbrk(0);
  printf("mallopt %d %d %d brk %d trim %d moved %ld\n", set_threshold, set_pad, set_trim, brk_result, trimmed,
         (long)(break_after_trim - break_before_trim));
  return 0;
}

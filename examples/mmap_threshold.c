/* The mmap threshold moves: glibc's dynamic threshold, and how to pin it.
 *
 * glibc mmaps a block when its chunk reaches the mmap threshold (128 KiB at start). The threshold
 * is not fixed: freeing an mmapped block larger than the threshold raises the threshold to that
 * block's size, so the next request of the same size comes from the heap. Setting the threshold
 * yourself (mallopt(M_MMAP_THRESHOLD, N), or MALLOC_MMAP_THRESHOLD_=N in the environment) pins it
 * and switches this dynamic rule off.
 *
 * The program makes three requests, freeing each block before the next request:
 *   1. malloc(200000)  above 128 KiB: mmap. Its free raises the threshold to 200704 (its chunk size)
 *   2. malloc(200000)  the same request now comes from the heap: the break moves
 *   3. malloc(1000000) above the new threshold (and bigger than the free heap top): mmap again
 * With the threshold pinned (--mallopt 65536, or MALLOC_MMAP_THRESHOLD_=65536), all three are mmapped.
 *
 *   memtrace run -o t.mtr -- build/bin/examples/mmap_threshold                 # mmap, heap, mmap
 *   memtrace run -o p.mtr -- build/bin/examples/mmap_threshold --mallopt 65536 # mmap, mmap, mmap
 *   MALLOC_MMAP_THRESHOLD_=65536 memtrace run -o e.mtr -- build/bin/examples/mmap_threshold
 *   memtrace calls t.mtr     # the verdict column, and the break move of request 2
 *
 * A lowered threshold also sends smaller blocks to mmap: compare
 *   memtrace run -- build/bin/examples/brk_vs_mmap 98304                       # 10 from the heap
 *   MALLOC_MMAP_THRESHOLD_=65536 memtrace run -- build/bin/examples/brk_vs_mmap 98304
 * where 9 of the 10 are mmapped. Not 10: glibc consults the threshold only when the free space at the
 * top of the heap cannot serve a request, and the first 96 KiB still fit in what the heap already had.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void request(size_t size) {
  char* block = malloc(size);
  if (!block) exit(1);
  memset(block, 1, size); /* touch it, so the pages are really used */
  printf("malloc(%zu) = %p\n", size, (void*)block);
  free(block); /* freeing an mmapped block may raise the threshold */
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "--mallopt") == 0) {
    /* Pin the threshold: this also switches the dynamic rule off for good. */
    if (mallopt(M_MMAP_THRESHOLD, atoi(argv[2])) != 1) return 1;
  }
  request(200000);  /* 1: mmap */
  request(200000);  /* 2: heap, unless the threshold is pinned */
  request(1000000); /* 3: mmap */
  return 0;
}

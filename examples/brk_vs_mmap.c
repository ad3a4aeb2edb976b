/* brk vs mmap: the classic lesson.
 *
 * For each size given on the command line (default 32768 and 262144), allocate ten blocks of that
 * size, touch them, then free them. glibc serves requests below its mmap threshold (128 KiB at start)
 * from the heap, growing the program break with brk; larger ones each get a mapping of their own.
 *
 *   memtrace run -o t.mtr -- build/bin/examples/brk_vs_mmap 32768 262144
 *   memtrace calls t.mtr     # each malloc with glibc's verdict: heap, or mmap with the mapping
 *   memtrace brk t.mtr       # the break moves the 32 KiB blocks caused
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { kBlocks = 10 };

int main(int argc, char** argv) {
  const char* default_sizes[] = {"32768", "262144"};
  int count = argc > 1 ? argc - 1 : 2;
  const char** sizes = argc > 1 ? (const char**)argv + 1 : default_sizes;
  for (int s = 0; s < count; ++s) {
    size_t size = strtoul(sizes[s], NULL, 0);
    void* blocks[kBlocks];
    for (int i = 0; i < kBlocks; ++i) {
      blocks[i] = malloc(size);
      if (!blocks[i]) return 1;
      memset(blocks[i], i, size);
    }
    for (int i = 0; i < kBlocks; ++i) free(blocks[i]);
  }
  return 0;
}

// deep_nofp [DEPTH]: -O2 code without frame pointers allocating at every level of a recursion DEPTH
// deep (default 40) and inside qsort's comparator (libc's own frames in between). Only CFI can unwind
// it: a frame-pointer walk would lose every frame. Prints the depth and the comparisons made.
#include <stdio.h>
#include <stdlib.h>

static volatile long sink;
static long comparisons;

static int compare(const void* a, const void* b) {
  char* p = malloc(24);  // allocates under qsort
  sink += (long)p;
  free(p);
  ++comparisons;
  return (*(const int*)a > *(const int*)b) - (*(const int*)a < *(const int*)b);
}

__attribute__((noinline)) static long descend(int level, int depth) {
  char* block = malloc(16 + (size_t)level);
  sink += (long)block;
  long below = 0;
  if (level < depth) {
    below = descend(level + 1, depth);
  } else {
    int values[16];
    for (int i = 0; i < 16; ++i) values[i] = (i * 7919) % 16;
    qsort(values, 16, sizeof values[0], compare);
  }
  free(block);
  return below + level;  // not a tail call
}

int main(int argc, char** argv) {
  int depth = argc > 1 ? atoi(argv[1]) : 40;
  long total = 0;
  for (int round = 0; round < 100; ++round) total += descend(1, depth);
  printf("depth %d, sum %ld, comparisons %ld\n", depth, total, comparisons);
  return 0;
}

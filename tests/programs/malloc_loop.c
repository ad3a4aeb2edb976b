// malloc_loop SIZE COUNT: COUNT blocks of SIZE bytes are allocated and held together, every byte is
// touched, then all are freed in allocation order. Prints a checksum so nothing can be elided, and
// keeps its own bookkeeping off the heap (a static array), so the program's own calls are exactly
// COUNT mallocs of SIZE and COUNT frees.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_BLOCKS 100000

static void* blocks[MAX_BLOCKS];

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: malloc_loop SIZE COUNT\n");
    return 2;
  }
  size_t size = strtoull(argv[1], NULL, 0);
  long count = strtol(argv[2], NULL, 0);
  if (size == 0 || count <= 0 || count > MAX_BLOCKS) {
    fprintf(stderr, "malloc_loop: SIZE must be > 0 and COUNT in 1..%d\n", MAX_BLOCKS);
    return 2;
  }
  volatile unsigned long checksum = 0;
  for (long i = 0; i < count; ++i) {
    unsigned char* p = malloc(size);
    if (!p) {
      fprintf(stderr, "malloc_loop: malloc(%zu) failed\n", size);
      return 1;
    }
    memset(p, (int)(i & 0xff), size);
    blocks[i] = p;
  }
  for (long i = 0; i < count; ++i) {
    const volatile unsigned char* p = blocks[i];
    checksum += p[0] + p[size / 2] + p[size - 1];
  }
  for (long i = 0; i < count; ++i) free(blocks[i]);
  printf("malloc_loop size %zu count %ld checksum %lu\n", size, count, (unsigned long)checksum);
  return 0;
}

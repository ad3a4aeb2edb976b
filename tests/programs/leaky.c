// leaky: leaks blocks of known sizes, and frees everything else.
//   1 x malloc(1000)      pointer dropped (definitely lost)
//   3 x malloc(2222)      pointers dropped
//   1 x calloc(10, 333)   pointer dropped
//   1 x malloc(4444)      still referenced from a global at exit (still reachable)
// Total leaked: 1000 + 3*2222 + 3330 + 4444 = 15440 bytes in 6 blocks.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void* volatile still_reachable;

static __attribute__((noinline)) void lose(size_t size) {
  void* volatile p = malloc(size);
  memset(p, 1, size);
  p = NULL;
}

static __attribute__((noinline)) void lose_calloc(size_t count, size_t size) {
  void* volatile p = calloc(count, size);
  memset(p, 1, count * size);
  p = NULL;
}

int main(void) {
  static char out[1024];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  lose(1000);
  for (int i = 0; i < 3; ++i) lose(2222);
  lose_calloc(10, 333);
  still_reachable = malloc(4444);
  memset(still_reachable, 2, 4444);
  for (int i = 0; i < 10; ++i) free(malloc(5555));  // not leaked
  printf("leaked 6 blocks, 15440 bytes\n");
  return 0;
}

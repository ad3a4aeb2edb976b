// alloc_phases N: allocates in phases whose sizes scale with N, so reports of two runs differ at known
// sites. Built -O0 -g so each site keeps its own frame and line.
//   keep_records(N)    N x malloc(1000), all kept until phase 3: the live heap rises, then falls
//   map_buffers()      4 x malloc(256 KiB), above the mmap threshold: mmapped chunks, freed
//   leak_records(N)    N x malloc(64), pointers dropped: definitely lost, 64 * N bytes
//   constant_work()    100 x malloc(100), freed: the same in every run
//   leak_big_cache()   only when N > 500: 1 x malloc(4096), pointer dropped (a leak small runs lack)
// Prints what it leaked.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { kRecordSize = 1000, kLeakSize = 64, kBufferSize = 256 * 1024, kBuffers = 4 };

static void pause_briefly(void) {
  struct timespec t = {0, 2 * 1000 * 1000};  // spreads the phases out on the time axis
  nanosleep(&t, NULL);
}

static __attribute__((noinline)) void** keep_records(long n) {
  void** records = malloc(sizeof(void*) * (size_t)n);
  for (long i = 0; i < n; ++i) {
    records[i] = malloc(kRecordSize);
    memset(records[i], 1, kRecordSize);
  }
  return records;
}

static __attribute__((noinline)) void map_buffers(void) {
  void* buffers[kBuffers];
  for (int i = 0; i < kBuffers; ++i) {
    buffers[i] = malloc(kBufferSize);
    memset(buffers[i], 2, kBufferSize);
  }
  pause_briefly();
  for (int i = 0; i < kBuffers; ++i) free(buffers[i]);
}

static __attribute__((noinline)) void leak_records(long n) {
  for (long i = 0; i < n; ++i) {
    void* volatile p = malloc(kLeakSize);
    memset(p, 3, kLeakSize);
    p = NULL;
  }
}

static __attribute__((noinline)) void leak_big_cache(void) {
  void* volatile p = malloc(4096);
  memset(p, 4, 4096);
  p = NULL;
}

static __attribute__((noinline)) void constant_work(void) {
  for (int i = 0; i < 100; ++i) {
    void* volatile p = malloc(100);
    free(p);
  }
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 100;
  if (n <= 0) {
    fprintf(stderr, "usage: alloc_phases N (N > 0)\n");
    return 2;
  }
  static char out[1024];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  constant_work();
  void** records = keep_records(n);
  pause_briefly();
  map_buffers();
  for (long i = 0; i < n; ++i) free(records[i]);
  free(records);
  pause_briefly();
  leak_records(n);
  long leaked_blocks = n, leaked_bytes = n * kLeakSize;
  if (n > 500) {
    leak_big_cache();
    leaked_blocks += 1;
    leaked_bytes += 4096;
  }
  printf("leaked %ld blocks, %ld bytes\n", leaked_blocks, leaked_bytes);
  return 0;
}

// export_sites: allocation sites whose totals the export tests know, each in its own function so
// that profiles can name them (built -O0 -g; noinline keeps each site's frame).
//
//   leak_some     20 x 10,000 B from the always-inlined inline_alloc, never freed (inuse top; its
//                 location has two lines: inline_alloc inlined into leak_some)
//   leak_mapped   1 x 300,000 B, never freed: an mmapped chunk still mapped at exit
//   grow_big      3 x 1,000,000 B held together, then freed (alloc_space top, the peak's tree)
//   many_small    in a second thread: 1000 x 64 B, each freed at once (alloc_objects top)
//   map_some      the program's own mapping: 3 pages mmapped, the middle one made read-only and writable
//                 again, the first unmapped, the other two moved by mremap to 4 pages, then all unmapped
//
// Prints "main TID", "worker TID" (gettid) and "mapping ADDRESS MOVED_TO" (hex) so tests can check the
// threads and the mapping an export names.
#define _GNU_SOURCE
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static void* volatile sink;
static void* leaked[21];

static inline __attribute__((always_inline)) void* inline_alloc(size_t size) { return malloc(size); }

NOINLINE static void leak_some(void) {
  for (int i = 0; i < 20; ++i) leaked[i] = inline_alloc(10000);
}

NOINLINE static void leak_mapped(void) { leaked[20] = malloc(300000); }

NOINLINE static void grow_big(void) {
  void* blocks[3];
  for (int i = 0; i < 3; ++i) {
    blocks[i] = malloc(1000000);
    memset(blocks[i], 1, 1000000);
  }
  for (int i = 0; i < 3; ++i) free(blocks[i]);
}

NOINLINE static void* many_small(void* unused) {
  (void)unused;
  printf("worker %d\n", gettid());
  for (int i = 0; i < 1000; ++i) {
    sink = malloc(64);
    free(sink);
  }
  return NULL;
}

NOINLINE static int map_some(void) {
  long page = sysconf(_SC_PAGESIZE);
  char* first = mmap(NULL, 3 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (first == MAP_FAILED) return -1;
  // Read-only and back again (mremap wants one VMA), then the first page unmapped.
  if (mprotect(first + page, page, PROT_READ) != 0 ||
      mprotect(first + page, page, PROT_READ | PROT_WRITE) != 0 || munmap(first, page) != 0) {
    return -1;
  }
  char* moved = mremap(first + page, 2 * page, 4 * page, MREMAP_MAYMOVE);
  if (moved == MAP_FAILED) return -1;
  printf("mapping %lx %lx\n", (unsigned long)first, (unsigned long)moved);
  return munmap(moved, 4 * page);
}

int main(void) {
  printf("main %d\n", gettid());
  fflush(stdout);
  leak_some();
  leak_mapped();
  grow_big();
  pthread_t worker;
  if (pthread_create(&worker, NULL, many_small, NULL) != 0) return 1;
  pthread_join(worker, NULL);
  return map_some() == 0 ? 0 : 1;
}

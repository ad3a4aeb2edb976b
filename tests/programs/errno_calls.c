// errno_calls: calls every hooked function with errno set to a marker first, and prints errno and the
// outcome after each: successful calls must leave errno alone (glibc's do), failing calls must set the
// errno glibc sets. The output must be identical traced and untraced.
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define MARK 4242

static void report(const char* what, int ok) {
  printf("%-40s %-4s errno=%d\n", what, ok ? "ok" : "fail", errno);
  errno = MARK;
}

static volatile size_t huge = SIZE_MAX / 2;  // volatile: no compile-time size warnings

int main(void) {
  static char out[8192];
  setvbuf(stdout, out, _IOFBF, sizeof out);
  errno = MARK;
  void* p = malloc(100);
  report("malloc(100)", p != NULL);
  free(p);
  report("free(heap block)", 1);
  p = malloc(1 << 20);
  report("malloc(1 MiB)", p != NULL);
  free(p);
  report("free(mmapped block)", 1);
  p = malloc(huge);
  report("malloc(SIZE_MAX/2)", p != NULL);
  p = calloc(huge / 4, 16);
  report("calloc(overflow)", p != NULL);
  p = calloc(10, 10);
  report("calloc(10, 10)", p != NULL);
  void* q = realloc(p, huge);
  report("realloc(p, SIZE_MAX/2)", q != NULL);
  p = realloc(p, 100000);
  report("realloc(p, 100000)", p != NULL);
  q = reallocarray(p, huge / 2, 8);
  report("reallocarray(overflow)", q != NULL);
  free(p);
  report("free(realloc'd)", 1);
  int r = posix_memalign(&p, 3, 64);
  printf("%-40s result=%d\n", "posix_memalign(3, 64)", r);
  report("  errno after", r == 0);
  r = posix_memalign(&p, 64, 64);
  report("posix_memalign(64, 64)", r == 0);
  free(p);
  p = aligned_alloc(4096, 4096);
  report("aligned_alloc(4096, 4096)", p != NULL);
  free(p);
  void* m = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  report("mmap(anon 4096)", m != MAP_FAILED);
  r = mprotect(m, 4096, PROT_READ);
  report("mprotect(m, READ)", r == 0);
  r = madvise(m, 4096, MADV_DONTNEED);
  report("madvise(m, DONTNEED)", r == 0);
  r = madvise(m, 4096, 12345);
  report("madvise(m, bogus advice)", r == 0);
  r = munmap(m, 4096);
  report("munmap(m)", r == 0);
  m = mmap(NULL, 0, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  report("mmap(length 0)", m != MAP_FAILED);
  m = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, 12345, 0);
  report("mmap(bad fd)", m != MAP_FAILED);
  r = munmap((void*)1, 4096);
  report("munmap(unaligned)", r == 0);
  r = mprotect((void*)1, 4096, PROT_READ);
  report("mprotect(unaligned)", r == 0);
  void* b = sbrk(0);
  report("sbrk(0)", b != (void*)-1);
  b = sbrk((intptr_t)1 << 62);
  report("sbrk(2^62)", b != (void*)-1);
  r = brk((void*)1);
  report("brk(1)", r == 0);
  r = mallopt(M_MMAP_THRESHOLD, 1 << 30);  // above HEAP_MAX: refused
  report("mallopt(M_MMAP_THRESHOLD, 1 GiB)", r == 1);
  r = malloc_trim(0);
  printf("%-40s done\n", "malloc_trim(0)");
  errno = MARK;
  fflush(stdout);
  return 0;
}

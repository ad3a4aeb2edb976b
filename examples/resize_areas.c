/* Growing and shrinking memory areas: the program break (brk/sbrk) and a mapping (mremap).
 *
 * The break is the end of the heap area. sbrk(n) moves it by n bytes and returns the old end:
 * positive n grows the heap, negative n gives memory back. mremap grows or shrinks a mapping; when
 * the pages after it are taken, MREMAP_MAYMOVE lets the kernel move it (with its contents).
 *
 *   memtrace run -o t.mtr -- build/bin/examples/resize_areas
 *   memtrace brk t.mtr               # the break timeline: +64 KiB, +64 KiB, -128 KiB, each by sbrk
 *   memtrace calls t.mtr             # mmap 1 MiB, mremap to 4 MiB, mremap to 256 KiB, munmap
 *   memtrace maps t.mtr --timeline   # the mapping's sizes over its life
 *
 * The program never calls malloc (and prints with unbuffered stdout, which needs no buffer), so every
 * break move in the trace is its own, except the first: "memtrace start-up", where memtrace's own
 * start-up (loading libunwind) made glibc set up the heap. Untraced, the program has no heap at all.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

enum { kKiB = 1024, kMiB = 1024 * 1024 };

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0); /* no stdio buffer, so no malloc */

  /* The heap, by hand: grow the break twice, then shrink it back. */
  char* start = sbrk(0);
  char* a = sbrk(64 * kKiB); /* returns the old break: a is the start of the new 64 KiB */
  char* b = sbrk(64 * kKiB);
  if (a == (void*)-1 || b == (void*)-1) return 1;
  char* grown_end = sbrk(0);
  memset(a, 1, 128 * kKiB); /* the 128 KiB between start and the new break are ours */
  sbrk(-128 * kKiB);        /* give it all back */
  printf("break %p -> %p -> %p\n", (void*)start, (void*)grown_end, (void*)sbrk(0));

  /* A mapping: 1 MiB, grown to 4 MiB (it may move), shrunk to 256 KiB (it stays), unmapped. */
  char* area = mmap(NULL, 1 * kMiB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (area == MAP_FAILED) return 1;
  strcpy(area, "kept across the move");
  char* grown = mremap(area, 1 * kMiB, 4 * kMiB, MREMAP_MAYMOVE);
  if (grown == MAP_FAILED) return 1;
  char* shrunk = mremap(grown, 4 * kMiB, 256 * kKiB, 0); /* shrinking never moves */
  if (shrunk == MAP_FAILED) return 1;
  printf("mapping %p (1 MiB) -> %p (4 MiB) -> %p (256 KiB): \"%s\"\n", (void*)area, (void*)grown,
         (void*)shrunk, shrunk);
  munmap(shrunk, 256 * kKiB);
  return 0;
}

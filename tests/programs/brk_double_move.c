// brk_double_move MODE ROUNDS: makes single glibc calls that move the program break twice, once up
// (sysmalloc grows the heap) and once down (systrim gives the surplus back), ROUNDS times.
//
//   realloc   a block at the top of the heap grows in place while the top chunk is too small:
//             _int_realloc -> sysmalloc grows, the block's old size is freed into the top, systrim trims.
//   memalign  a 64 KiB-aligned block is asked for while the top chunk is small: _int_memalign's
//             _int_malloc grows the heap by alignment + the pad, the unused tail joins the top and is
//             trimmed.
//   netzero   memalign with M_TOP_PAD and M_TRIM_THRESHOLD 0, shaped so that the trim gives back exactly
//             what the grow took: the break ends where it started, so the call's record shows no move
//             at all (memtrace cannot report this pair; see test_brk_vs_strace.py).
//
// The mmap threshold is raised so every block stays in the sbrk heap. mallinfo2().keepcost (the top
// chunk's size) is only used to shape the heap; the moves themselves are glibc's.
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void* held[64];
static int held_count;

static void Hold(void* block) {
  if (held_count < 64) held[held_count++] = block;
}

// memalign(alignment, bytes) with the top chunk starting 80 bytes below an alignment boundary and too
// small for the request (bytes + alignment + MINSIZE), so that sysmalloc grows it, the aligned block
// sits 64 bytes in, and almost all of the grown space is an unused tail that systrim gives back.
static unsigned char* AlignedAtTop(size_t alignment, size_t bytes) {
  uintptr_t brk = (uintptr_t)sbrk(0);
  size_t top = mallinfo2().keepcost;
  if (top < alignment + 4096) {  // make room first (a plain growth)
    Hold(malloc(top + 64));
    brk = (uintptr_t)sbrk(0);
    top = mallinfo2().keepcost;
  }
  uintptr_t top_start = brk - top;
  uintptr_t target = ((brk - 64) & ~(uintptr_t)(alignment - 1)) - 80;
  Hold(malloc(target - top_start -
              8));  // its chunk is exactly target - top_start: the top now starts at target
  return memalign(alignment, bytes);
}

// memalign(128 KiB, 100) that grows the heap and trims it back to exactly where it was. With M_TOP_PAD
// and M_TRIM_THRESHOLD 0, the heap is grown one page at a time (each request one page larger than the
// top) until the break is 4 KiB past a 128 KiB boundary; freeing the last page-sized block gives a top
// chunk of 4144 bytes. The memalign's request (the block + alignment + MINSIZE) does not fit, sysmalloc
// grows the heap by 128 KiB, the aligned block sits 32 bytes into the old top and ends below the old
// break, and the unused tail joins the top, which systrim shrinks back to the old break's page.
static unsigned char* NetZero(void) {
  const size_t alignment = 131072;
  mallopt(M_TOP_PAD, 0);
  mallopt(M_TRIM_THRESHOLD, 0);
  void* last = NULL;
  for (int pages = 0;; ++pages) {
    if (pages >= 2 && ((uintptr_t)sbrk(0) & (alignment - 1)) == 4096) break;
    if (pages > 2 * (int)(alignment / 4096) + 2) return NULL;
    if (last) Hold(last);
    last = malloc(mallinfo2().keepcost + 4096 - 56);  // a chunk of top + 4048: the heap grows one page
  }
  free(last);  // borders the top, below the consolidation threshold: joins the top, no trim
  return memalign(alignment, 100);
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: brk_double_move realloc|memalign|netzero ROUNDS\n");
    return 2;
  }
  const char* mode = argv[1];
  int rounds = atoi(argv[2]);
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  unsigned long checksum = 0;
  for (int i = 0; i < rounds; ++i) {
    if (strcmp(mode, "realloc") == 0) {
      unsigned char* block = malloc(200000 + 10000 * (size_t)i);
      memset(block, i, 1000);
      size_t grown = malloc_usable_size(block) + mallinfo2().keepcost + 30000;
      block = realloc(block, grown);
      checksum += block[999];
      Hold(block);  // stays: the next round starts above it
    } else if (strcmp(mode, "memalign") == 0) {
      unsigned char* block = AlignedAtTop(65536, 100);
      block[0] = (unsigned char)i;
      checksum += block[0];
    } else if (strcmp(mode, "netzero") == 0) {
      unsigned char* block = NetZero();
      if (!block) return 1;
      block[0] = (unsigned char)i;
      checksum += block[0];
    } else {
      fprintf(stderr, "brk_double_move: unknown mode %s\n", mode);
      return 2;
    }
  }
  for (int i = held_count - 1; i >= 0; --i) free(held[i]);
  printf("brk_double_move %s rounds %d checksum %lu\n", mode, rounds, checksum);
  return 0;
}

// brk_double_move MODE ROUNDS: makes single glibc calls that move the program break twice, once up
// (sysmalloc grows the heap) and once down (systrim gives the surplus back), ROUNDS times.
//
//   realloc   a block at the top of the heap grows in place while the top chunk is too small:
//             _int_realloc -> sysmalloc grows, the block's old size is freed into the top, systrim trims.
//   memalign  a 64 KiB-aligned block is asked for while the top chunk is small: _int_memalign's
//             _int_malloc grows the heap by alignment + the pad, the unused tail joins the top and is
//             trimmed.
//   netzero   as memalign with M_TOP_PAD 0 and a page alignment: the trim can give back exactly what
//             the grow took, so the break ends where it started (the records cannot show this one).
//
// The mmap threshold is raised so every block stays in the sbrk heap. mallinfo2().keepcost (the top
// chunk's size) is only used to shape the heap; the moves themselves are glibc's.
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <unistd.h>

static void* held[64];
static int held_count;

static void Hold(void* block) {
  if (held_count < 64) held[held_count++] = block;
}

// Allocates from the top until about `leave` bytes of it are left.
static void ShrinkTop(size_t leave) {
  size_t top = mallinfo2().keepcost;
  if (top > leave + 64) Hold(malloc(top - leave - 64));
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
  Hold(malloc(target - top_start - 8));  // its chunk is exactly target - top_start: the top now starts at target
  return memalign(alignment, bytes);
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
      mallopt(M_TOP_PAD, 0);
      ShrinkTop(4000);
      unsigned char* block = memalign(4096, 4096);
      block[0] = (unsigned char)i;
      checksum += block[0];
      Hold(block);
    } else {
      fprintf(stderr, "brk_double_move: unknown mode %s\n", mode);
      return 2;
    }
  }
  for (int i = held_count - 1; i >= 0; --i) free(held[i]);
  printf("brk_double_move %s rounds %d checksum %lu\n", mode, rounds, checksum);
  return 0;
}

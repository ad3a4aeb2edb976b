// The library dl_cycle loads and unloads: `work` recurses DEPTH frames, allocating at every level. The
// two builds differ only in the size of a local array (DL_CYCLE_PAD: 16 or 64 bytes, both an 8-bit
// immediate in the prologue), so their code has the same length and layout and the same return
// addresses, but different stack frames: unwind rules of one are wrong for the other.
#include <stdlib.h>

static volatile long sink;

__attribute__((noinline)) static long level(int depth) {
  volatile char pad[DL_CYCLE_PAD];
  pad[depth % DL_CYCLE_PAD] = (char)depth;
  char* block = malloc(32);
  sink += (long)block + pad[depth % DL_CYCLE_PAD];
  long below = depth > 0 ? level(depth - 1) : 0;
  free(block);
  return below + depth;
}

long work(int depth) { return level(depth); }

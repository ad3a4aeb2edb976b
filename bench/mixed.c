// mixed: malloc, calloc and realloc with sizes on both sides of glibc's 128 KiB mmap threshold, and
// half of what is still live at the end leaked on purpose. Exercises the chunk-header read (heap vs
// mmapped verdicts), realloc moves, calloc, and the break watch, not just the small-block fast path.
//
//   mixed [-n OPS] [--slots S]
//     -n OPS     operations (default 400,000)
//     --slots S  table of live blocks (default 1024)
#include "bench_common.h"

// Mostly small, some medium, ~5% around or above 128 KiB (up to ~1.1 MiB).
static size_t pick_size(uint64_t r) {
  unsigned bucket = (unsigned)(r % 100);
  uint64_t x = r >> 8;
  if (bucket < 70) return 8 + (size_t)(x % 1024);            // small
  if (bucket < 95) return 1024 + (size_t)(x % (32 * 1024));  // medium
  return 128 * 1024 - 4096 + (size_t)(x % (1024 * 1024));    // around and above the threshold
}

int main(int argc, char** argv) {
  long ops = bench_count_arg(argc, argv, "-n", 400000);
  long nslots = bench_count_arg(argc, argv, "--slots", 1024);
  if (nslots < 2) nslots = 2;
  char** slots = calloc((size_t)nslots, sizeof *slots);
  size_t* sizes = calloc((size_t)nslots, sizeof *sizes);
  uint64_t rng = 0xD1B54A32D192ED03ULL;
  uint64_t checksum = 0;

  for (long i = 0; i < ops; ++i) {
    uint64_t r = bench_next(&rng);
    size_t slot = (size_t)(r % (uint64_t)nslots);
    unsigned op = (unsigned)((r >> 40) % 10);
    size_t size = pick_size(bench_next(&rng));
    char* p = slots[slot];
    if (p && op < 3) {  // 30%: resize the block in place or move it (may cross the threshold)
      p = realloc(p, size);
      if (!p) continue;
      p[size - 1] = 1;
    } else if (p && op < 5) {  // 20%: release
      free(p);
      p = NULL;
      size = 0;
    } else {  // 50%: replace with a fresh block
      free(p);
      if (op < 7) {
        p = calloc(1, size);
      } else {
        p = malloc(size);
        if (p) p[0] = 1, p[size - 1] = 2;  // touch both ends, not the whole block
      }
    }
    bench_escape(p);
    slots[slot] = p;
    sizes[slot] = size;
    if (p) checksum += (uint8_t)p[0];
  }

  // Leak half of what is live: odd slots stay allocated, and the table pointing at them goes away
  // too, so a leak checker sees them as definitely lost.
  long leaked = 0;
  for (long i = 0; i < nslots; ++i) {
    if (!slots[i]) continue;
    if (i % 2 == 0) {
      free(slots[i]);
    } else {
      ++leaked;
    }
    slots[i] = NULL;
  }
  free(sizes);
  free(slots);
  printf("mixed: %ld ops, %ld blocks leaked, checksum %llu\n", ops, leaked, (unsigned long long)checksum);
  return 0;
}

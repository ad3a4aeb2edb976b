// depth: recurse to a fixed depth, then malloc/free in a loop: every allocation is unwound through
// `depth` program frames, so the tracer's per-stack unwinding cost shows up against depth.
//
//   depth [-d D] [-n N]
//     -d D  frames of recursion below main before the loop (default 20)
//     -n N  malloc(64)/free pairs at the bottom (default 1,000,000)
#include "bench_common.h"

static uint64_t checksum;

// Not inlined and not a tail call (the work after the call), so each level is a real frame.
__attribute__((noinline)) static void descend(int remaining, long n) {
  if (remaining > 1) {
    descend(remaining - 1, n);
    bench_escape(&checksum);
    return;
  }
  checksum += bench_fixed64_pairs(n);
}

int main(int argc, char** argv) {
  long depth = bench_count_arg(argc, argv, "-d", 20);
  long n = bench_count_arg(argc, argv, "-n", 1000000);
  if (depth < 1) depth = 1;
  descend((int)depth, n);
  printf("depth: %ld frames, %ld pairs, checksum %llu\n", depth, n, (unsigned long long)checksum);
  return 0;
}

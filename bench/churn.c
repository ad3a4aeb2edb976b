// churn: N malloc/free pairs through a sliding window of ~1000 live blocks, sizes 16..256 bytes from a
// fixed-seed PRNG. The hot path of every allocation tracer: one small malloc and one free per step.
//
//   churn [-n N] [--window W] [--fixed64]
//     -n N       pairs (default 5,000,000)
//     --window W live blocks kept (default 1024)
//     --fixed64  plain malloc(64); free() back to back, no window (the heaptrack research loop)
#include "bench_common.h"

int main(int argc, char** argv) {
  long n = bench_count_arg(argc, argv, "-n", 5000000);
  long window = bench_count_arg(argc, argv, "--window", 1024);
  if (window < 1) window = 1;
  uint64_t checksum = 0;

  if (bench_flag(argc, argv, "--fixed64")) {
    checksum = bench_fixed64_pairs(n);
  } else {
    void** slots = calloc((size_t)window, sizeof *slots);
    uint64_t rng = 0x9E3779B97F4A7C15ULL;
    for (long i = 0; i < n; ++i) {
      uint64_t r = bench_next(&rng);
      size_t slot = (size_t)(r % (uint64_t)window);
      size_t size = 16 + (size_t)((r >> 32) % 241);  // 16..256
      free(slots[slot]);                             // free(NULL) during warm-up, like real code does
      char* p = malloc(size);
      p[0] = (char)size;
      bench_escape(p);
      checksum += (uint8_t)p[0];
      slots[slot] = p;
    }
    for (long i = 0; i < window; ++i) free(slots[i]);
    free(slots);
  }
  printf("churn: %ld pairs, checksum %llu\n", n, (unsigned long long)checksum);
  return 0;
}

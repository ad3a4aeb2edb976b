// stamp_cost: what one timestamp costs inside a malloc/free loop, the floor under every per-call
// tracer that stamps its records. Runs the same loop (free a block of a 256-slot window, malloc a new
// one of 16..271 bytes: the shape of `churn`) with no stamp, then with one stamp per malloc/free pair
// read each way memtrace can read it, and prints nanoseconds per pair and what the stamp added.
//
//   stamp_cost [-n PAIRS]   (default 20,000,000; best of 3 rounds)
//
// rdtscp waits for the thread's earlier instructions (what cross-thread order needs); rdtsc does not
// (what a single-threaded process gets); clock_gettime is the vDSO call used when the kernel's
// clocksource is not the TSC.
#include <time.h>
#include <x86intrin.h>

#include "bench_common.h"

enum Stamp { kNone, kRdtsc, kRdtscp, kClockGettime, kStamps };
static const char* const kNames[kStamps] = {"no stamp", "rdtsc", "rdtscp", "clock_gettime"};

static double seconds(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t take(enum Stamp stamp) {
  unsigned cpu;
  struct timespec t;
  switch (stamp) {
    case kRdtsc: return __rdtsc();
    case kRdtscp: return __rdtscp(&cpu);
    case kClockGettime: clock_gettime(CLOCK_MONOTONIC, &t); return (uint64_t)t.tv_nsec;
    default: return 0;
  }
}

// ns per pair; `stamp` is a constant in each specialised copy the compiler makes.
static inline __attribute__((always_inline)) double run(enum Stamp stamp, long pairs) {
  void* window[256] = {0};
  uint64_t rng = 0x9E3779B97F4A7C15ULL, sink = 0;
  double start = seconds();
  for (long i = 0; i < pairs; ++i) {
    uint64_t r = bench_next(&rng);
    unsigned slot = (unsigned)(r & 255);
    free(window[slot]);
    window[slot] = malloc(16 + ((r >> 8) & 255));
    bench_escape(window[slot]);
    sink += take(stamp);
  }
  double elapsed = seconds() - start;
  for (int k = 0; k < 256; ++k) free(window[k]);
  bench_escape(&sink);
  return elapsed * 1e9 / (double)pairs;
}

int main(int argc, char** argv) {
  long pairs = bench_count_arg(argc, argv, "-n", 20000000);
  double best[kStamps];
  for (int s = 0; s < kStamps; ++s) best[s] = 1e30;
  for (int round = 0; round < 3; ++round) {
    double ns[kStamps] = {run(kNone, pairs), run(kRdtsc, pairs), run(kRdtscp, pairs),
                          run(kClockGettime, pairs)};
    for (int s = 0; s < kStamps; ++s)
      if (ns[s] < best[s]) best[s] = ns[s];
  }
  printf("%-14s %8s %8s\n", "stamp", "ns/pair", "added");
  for (int s = 0; s < kStamps; ++s) printf("%-14s %8.1f %8.1f\n", kNames[s], best[s], best[s] - best[kNone]);
  return 0;
}

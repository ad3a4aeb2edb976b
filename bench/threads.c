// threads: T threads share one table of slots; each step allocates a block, swaps it into a random
// slot and frees whatever was there, which was usually allocated by another thread. The total number
// of pairs is the same for any T, so 2 and 8 threads compare directly (on a machine with fewer cores
// than threads, the 8-thread run also measures contention and context switches).
//
//   threads [-n TOTAL_PAIRS] [-t THREADS] [--slots S]
//     -n TOTAL  malloc/free pairs over all threads (default 4,000,000)
//     -t T      threads (default 2)
//     --slots S shared slots (default 4096)
#include <pthread.h>
#include <stdatomic.h>

#include "bench_common.h"

static _Atomic(char*)* slots;
static long nslots;
static long pairs_per_thread;

static void* worker(void* arg) {
  uint64_t rng = 0x243F6A8885A308D3ULL ^ ((uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ULL);
  uint64_t checksum = 0;
  for (long i = 0; i < pairs_per_thread; ++i) {
    uint64_t r = bench_next(&rng);
    size_t size = 16 + (size_t)((r >> 32) % 497);  // 16..512
    char* p = malloc(size);
    p[0] = (char)size;
    char* old = atomic_exchange_explicit(&slots[r % (uint64_t)nslots], p, memory_order_acq_rel);
    if (old) checksum += (uint8_t)old[0];
    free(old);
  }
  return (void*)(uintptr_t)checksum;
}

int main(int argc, char** argv) {
  long total = bench_count_arg(argc, argv, "-n", 4000000);
  long nthreads = bench_count_arg(argc, argv, "-t", 2);
  nslots = bench_count_arg(argc, argv, "--slots", 4096);
  if (nthreads < 1) nthreads = 1;
  if (nslots < 1) nslots = 1;
  pairs_per_thread = total / nthreads;
  slots = calloc((size_t)nslots, sizeof *slots);
  pthread_t* ids = calloc((size_t)nthreads, sizeof *ids);
  for (long t = 0; t < nthreads; ++t) pthread_create(&ids[t], NULL, worker, (void*)(uintptr_t)t);
  uint64_t checksum = 0;
  for (long t = 0; t < nthreads; ++t) {
    void* result;
    pthread_join(ids[t], &result);
    checksum += (uint64_t)(uintptr_t)result;
  }
  for (long i = 0; i < nslots; ++i) free(atomic_load(&slots[i]));
  free((void*)slots);
  free(ids);
  printf("threads: %ld threads x %ld pairs, checksum %llu\n", nthreads, pairs_per_thread,
         (unsigned long long)checksum);
  return 0;
}

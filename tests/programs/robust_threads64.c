// robust_threads64 [SECONDS] [THREADS]: THREADS (default 64) threads allocate blocks of mixed sizes
// for about SECONDS (default 2), in rounds of 8 with a 10 ms pause between rounds (so the trace stays
// near a hundred thousand calls), and hand each block to the next thread through a mutex-protected
// ring; the receiving thread frees it, so nearly every block is freed by a thread other than the one that
// allocated it. When time is up the main thread joins the workers and frees what is still queued.
// Workers call only malloc and free (their rings are static arrays, they do no I/O), so the numbers
// printed at the end ("mallocs N worker_frees N main_frees N") are exactly the calls they made.
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_THREADS 256
#define RING 256

struct ring {
  pthread_mutex_t lock;
  void* items[RING];
  unsigned head, tail;  // head - tail = items queued
};

static struct ring rings[MAX_THREADS];
static long mallocs[MAX_THREADS];
static long frees[MAX_THREADS];
static int threads = 64;
static atomic_int stop;
static pthread_barrier_t start;

static int push(struct ring* r, void* p) {
  int ok = 0;
  pthread_mutex_lock(&r->lock);
  if (r->head - r->tail < RING) {
    r->items[r->head++ % RING] = p;
    ok = 1;
  }
  pthread_mutex_unlock(&r->lock);
  return ok;
}

static void* pop(struct ring* r) {
  void* p = NULL;
  pthread_mutex_lock(&r->lock);
  if (r->head != r->tail) p = r->items[r->tail++ % RING];
  pthread_mutex_unlock(&r->lock);
  return p;
}

static void* worker(void* arg) {
  long i = (long)arg;
  struct ring* out = &rings[(i + 1) % threads];
  struct ring* in = &rings[i];
  unsigned seed = (unsigned)i * 2654435761u + 1;
  pthread_barrier_wait(&start);
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    for (int k = 0; k < 8; ++k) {
      seed = seed * 1103515245u + 12345u;
      size_t size = 16 + (seed >> 8) % 2000;
      char* p = malloc(size);
      if (!p) abort();
      ++mallocs[i];
      p[0] = (char)i;
      p[size - 1] = (char)k;
      if (!push(out, p)) {
        free(p);
        ++frees[i];
      }
    }
    for (void* p; (p = pop(in)) != NULL;) {
      free(p);
      ++frees[i];
    }
    struct timespec pause = {0, 10 * 1000 * 1000};
    nanosleep(&pause, NULL);
  }
  return NULL;
}

int main(int argc, char** argv) {
  double seconds = argc > 1 ? atof(argv[1]) : 2.0;
  if (argc > 2) threads = atoi(argv[2]);
  if (threads < 2 || threads > MAX_THREADS) return 2;
  pthread_t ids[MAX_THREADS];
  pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
  for (int i = 0; i < threads; ++i) pthread_mutex_init(&rings[i].lock, NULL);
  for (long i = 0; i < threads; ++i) {
    if (pthread_create(&ids[i], NULL, worker, (void*)i) != 0) return 3;
  }
  pthread_barrier_wait(&start);
  struct timespec nap = {(time_t)seconds, (long)((seconds - (double)(time_t)seconds) * 1e9)};
  nanosleep(&nap, NULL);
  atomic_store(&stop, 1);
  for (int i = 0; i < threads; ++i) pthread_join(ids[i], NULL);
  long total_mallocs = 0, worker_frees = 0, main_frees = 0;
  for (int i = 0; i < threads; ++i) {
    total_mallocs += mallocs[i];
    worker_frees += frees[i];
    for (void* p; (p = pop(&rings[i])) != NULL;) {
      free(p);
      ++main_frees;
    }
  }
  printf("mallocs %ld worker_frees %ld main_frees %ld\n", total_mallocs, worker_frees, main_frees);
  return total_mallocs == worker_frees + main_frees ? 0 : 1;
}

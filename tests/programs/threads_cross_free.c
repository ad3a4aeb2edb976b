// threads_cross_free [OPS_PER_THREAD]: 4 threads; thread i allocates blocks of mixed sizes and hands
// each to thread (i+1)%4 through a mutex-protected ring, which frees it. Every block is freed by a
// thread other than the one that allocated it. The rings are static arrays, and the workers call
// nothing else that allocates, so the workers' own calls are exactly the mallocs and frees counted
// and printed at the end ("mallocs N frees N").
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define THREADS 4
#define RING 1024

struct ring {
  pthread_mutex_t lock;
  void* items[RING];
  size_t sizes[RING];
  unsigned head, tail;  // head - tail = items queued
};

static struct ring rings[THREADS];
static long ops_per_thread = 50000;
static long mallocs[THREADS];
static long frees[THREADS];
static unsigned long checksums[THREADS];

static int push(struct ring* r, void* p, size_t size) {
  int ok = 0;
  pthread_mutex_lock(&r->lock);
  if (r->head - r->tail < RING) {
    r->items[r->head % RING] = p;
    r->sizes[r->head % RING] = size;
    ++r->head;
    ok = 1;
  }
  pthread_mutex_unlock(&r->lock);
  return ok;
}

static void* pop(struct ring* r, size_t* size) {
  void* p = NULL;
  pthread_mutex_lock(&r->lock);
  if (r->head != r->tail) {
    p = r->items[r->tail % RING];
    *size = r->sizes[r->tail % RING];
    ++r->tail;
  }
  pthread_mutex_unlock(&r->lock);
  return p;
}

// Frees what is queued for thread `self`; returns how many it freed.
static long drain(int self) {
  long n = 0;
  size_t size;
  unsigned char* p;
  while ((p = pop(&rings[self], &size)) != NULL) {
    checksums[self] += p[0] + p[size - 1];
    free(p);
    ++n;
  }
  return n;
}

static size_t size_of(long i, int self) {
  static const size_t sizes[] = {16, 24, 40, 100, 256, 1000, 4096, 20000, 65536, 200000};
  unsigned long x = (unsigned long)i * 2654435761u + (unsigned long)self * 40503u;
  size_t s = sizes[(x >> 7) % 10];
  // Large blocks are rare: they are mmapped and slow.
  if (s == 200000 && (x >> 11) % 16 != 0) s = 48;
  return s;
}

static void* worker(void* arg) {
  int self = (int)(long)arg;
  struct ring* next = &rings[(self + 1) % THREADS];
  for (long i = 0; i < ops_per_thread; ++i) {
    size_t size = size_of(i, self);
    unsigned char* p = malloc(size);
    if (!p) abort();
    ++mallocs[self];
    p[0] = (unsigned char)i;
    p[size - 1] = (unsigned char)self;
    while (!push(next, p, size)) {
      frees[self] += drain(self);
      sched_yield();
    }
    if ((i & 15) == 0) frees[self] += drain(self);
  }
  // Exactly ops_per_thread blocks are queued for every thread, by its predecessor.
  while (frees[self] < ops_per_thread) {
    long n = drain(self);
    frees[self] += n;
    if (!n) sched_yield();
  }
  return NULL;
}

int main(int argc, char** argv) {
  static char out[4096];
  setvbuf(stdout, out, _IOFBF, sizeof out);  // no malloc'd stdio buffer
  if (argc > 1) ops_per_thread = strtol(argv[1], NULL, 0);
  pthread_t threads[THREADS];
  for (int i = 0; i < THREADS; ++i) pthread_mutex_init(&rings[i].lock, NULL);
  for (int i = 0; i < THREADS; ++i) {
    if (pthread_create(&threads[i], NULL, worker, (void*)(long)i) != 0) return 1;
  }
  for (int i = 0; i < THREADS; ++i) pthread_join(threads[i], NULL);
  long total_mallocs = 0, total_frees = 0;
  unsigned long checksum = 0;
  for (int i = 0; i < THREADS; ++i) {
    total_mallocs += mallocs[i];
    total_frees += frees[i];
    checksum += checksums[i];
  }
  printf("mallocs %ld frees %ld checksum %lu\n", total_mallocs, total_frees, checksum);
  return total_mallocs == total_frees ? 0 : 1;
}

/* Every thread gets its own stack: an 8 MiB mapping (the default stack size, `ulimit -s`) with a
 * guard page below it that is mapped with no access, so that overflowing the stack faults.
 *
 * The program starts four threads, joins them, then starts four more. After a join glibc does not
 * unmap the dead thread's stack: it keeps it in a cache (up to 40 MiB) and hands it to the next
 * thread. So the second round creates no new stacks: the same four addresses come back.
 *
 *   memtrace run -o t.mtr -- build/bin/examples/thread_stacks
 *   memtrace maps t.mtr --timeline    # four births with origin "thread stack", and no deaths
 *   memtrace maps t.mtr --at end      # the four stacks are still mapped when the program ends
 */
#include <pthread.h>
#include <stdio.h>

enum { kThreads = 4 };

static void* worker(void* arg) {
  int local = 0; /* lives on this thread's own stack */
  printf("round %d: thread stack near %p\n", *(int*)arg, (void*)&local);
  return NULL;
}

static void round_of_threads(int round) {
  pthread_t threads[kThreads];
  for (int i = 0; i < kThreads; ++i) pthread_create(&threads[i], NULL, worker, &round);
  for (int i = 0; i < kThreads; ++i) pthread_join(threads[i], NULL); /* the stack goes to the cache */
}

int main(void) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  round_of_threads(1); /* four new stacks are mapped */
  round_of_threads(2); /* the cached stacks are reused: nothing new is mapped */
  return 0;
}

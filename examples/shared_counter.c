/* Shared anonymous memory across fork: one counter, two processes.
 *
 * After fork, parent and child have copies of each other's private memory (copy on write), so a
 * write by one is invisible to the other. A MAP_SHARED | MAP_ANONYMOUS mapping is different: both
 * processes see the same physical page. Parent and child each add 1000 to a counter in such a page;
 * the parent waits for the child and prints 2000. A counter in a normal global would print 1000.
 *
 *   memtrace run -o t.mtr -- build/bin/examples/shared_counter
 *                                 # run lists two traces: the parent's and the child's
 *   memtrace maps t.mtr --at end  # the counter's page, mode rw-s (s = shared)
 *   memtrace maps t.<child pid>.mtr --at end   # the same page at the same address in the child
 */
#include <stdio.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

enum { kAdds = 1000 };

int private_counter; /* an ordinary global: each process has its own copy after fork */

static void add(long* shared_counter) {
  for (int i = 0; i < kAdds; ++i) {
    __atomic_fetch_add(shared_counter, 1, __ATOMIC_SEQ_CST); /* both processes add at once */
    private_counter++;
  }
}

int main(void) {
  long* counter = mmap(NULL, sizeof(long), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (counter == MAP_FAILED) return 1;
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return 1;
  add(counter);
  if (child == 0) return 0; /* the child ends; its trace is a file of its own */
  int status;
  waitpid(child, &status, 0);
  printf("shared counter at %p: %ld (private counter: %d)\n", (void*)counter, *counter, private_counter);
  return 0; /* the page stays mapped to the end, so `maps --at end` shows it */
}

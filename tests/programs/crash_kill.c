// crash_kill: makes a few allocations of a recognisable size (12345 bytes), then kills itself with
// SIGKILL, so no exit handler or destructor runs.
#include <signal.h>
#include <stdlib.h>
#include <string.h>

void* volatile keep[5];

int main(void) {
  for (int i = 0; i < 5; ++i) {
    keep[i] = malloc(12345);
    memset(keep[i], i, 12345);
  }
  free(keep[0]);
  raise(SIGKILL);
  return 0;
}

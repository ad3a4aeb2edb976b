// robust_signal_alloc [SIGNALS]: a SIGALRM handler (setitimer, every 500 us) that mallocs and frees
// while the main loop mallocs and frees, until SIGNALS (default 400) handlers have run or 10 seconds
// have passed. Prints "main N handler N" (malloc/free pairs made by each).
//
// glibc's malloc is not async-signal-safe. The two sides use different size classes so that they never
// touch the same allocator state: the main loop only ever holds one 24-byte block, which after its
// first malloc always comes from and goes back to its tcache bin; the handler's 1000-byte blocks live in
// another bin (its first malloc, the only one that reaches the arena, cannot interrupt an arena
// operation of the main loop, which never makes one after warming up). Whatever the preload does inside
// its hooks is therefore the only code a handler can interrupt mid-way.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#define HANDLER_SIZE 1000
#define MAIN_SIZE 24

static volatile sig_atomic_t handler_pairs;

static void on_alarm(int sig) {
  (void)sig;
  char* volatile p = malloc(HANDLER_SIZE);
  if (!p) abort();
  p[0] = 1;
  p[HANDLER_SIZE - 1] = 2;
  free(p);
  handler_pairs = handler_pairs + 1;
}

int main(int argc, char** argv) {
  int signals = argc > 1 ? atoi(argv[1]) : 400;
  // Warm both bins before the timer starts.
  free(malloc(MAIN_SIZE));
  free(malloc(HANDLER_SIZE));
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGALRM, &sa, NULL) != 0) return 2;
  struct itimerval timer = {{0, 500}, {0, 500}};
  if (setitimer(ITIMER_REAL, &timer, NULL) != 0) return 3;
  long main_pairs = 0;
  time_t deadline = time(NULL) + 10;
  while (handler_pairs < signals && time(NULL) < deadline) {
    for (int k = 0; k < 64; ++k) {
      char* volatile p = malloc(MAIN_SIZE);
      if (!p) abort();
      p[0] = (char)k;
      free(p);
      ++main_pairs;
    }
  }
  struct itimerval off = {{0, 0}, {0, 0}};
  setitimer(ITIMER_REAL, &off, NULL);
  // 2 pairs made before the timer started are not counted.
  printf("main %ld handler %d\n", main_pairs, (int)handler_pairs);
  return handler_pairs >= signals ? 0 : 1;
}

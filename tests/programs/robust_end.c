// robust_end MODE: makes five 12345-byte allocations (frees the first), then ends the way MODE says:
//   sigkill      raise(SIGKILL)
//   abort        abort() (SIGABRT)
//   segv         a write through a null pointer (SIGSEGV)
//   _exit        _exit(3): no atexit handlers, no destructors
//   exit         exit(5) from main
//   return       return 6 from main
//   thread_exit  exit(4) from a second thread while the main thread keeps allocating
//   _Fork        _Fork() (fork without atfork handlers); the child makes three 4321-byte allocations and
//                _exit(0)s, the parent waits for it and exits 7
// Output is written with write(2) before the end, so it is complete whatever the end is.
#define _GNU_SOURCE  // _Fork
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SIZE 12345

static void* volatile keep[5];

static void say(const char* text) {
  ssize_t n = write(1, text, strlen(text));
  (void)n;
}

static void* exit_from_thread(void* arg) {
  (void)arg;
  struct timespec nap = {0, 50 * 1000 * 1000};
  nanosleep(&nap, NULL);
  // A few allocations of its own first, so the thread has written records.
  for (int i = 0; i < 3; ++i) free(malloc(777));
  say("thread exits\n");
  exit(4);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "exit";
  for (int i = 0; i < 5; ++i) {
    keep[i] = malloc(SIZE);
    memset(keep[i], i, SIZE);
  }
  free(keep[0]);
  say("allocated\n");
  if (strcmp(mode, "sigkill") == 0) raise(SIGKILL);
  if (strcmp(mode, "abort") == 0) abort();
  if (strcmp(mode, "segv") == 0) {
    signal(SIGSEGV, SIG_DFL);
    volatile int* volatile null = NULL;  // volatile: the compiler cannot see it is null
    *null = 1;
  }
  if (strcmp(mode, "_exit") == 0) _exit(3);
  if (strcmp(mode, "_Fork") == 0) {
    pid_t child = _Fork();
    if (child < 0) return 2;
    if (child == 0) {
      for (int i = 0; i < 3; ++i) {
        void* volatile block = malloc(4321);  // volatile: the pair is not optimized away
        free(block);
      }
      say("child done\n");
      _exit(0);
    }
    int status = 0;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) return 2;
    say("parent done\n");
    exit(7);
  }
  if (strcmp(mode, "exit") == 0) exit(5);
  if (strcmp(mode, "return") == 0) return 6;
  if (strcmp(mode, "thread_exit") == 0) {
    pthread_t id;
    if (pthread_create(&id, NULL, exit_from_thread, NULL) != 0) return 2;
    // Keep allocating until the other thread's exit() ends the process.
    for (unsigned long n = 0;; ++n) {
      char* volatile p = malloc(64 + n % 512);
      if (!p) abort();
      p[0] = 1;
      free(p);
    }
  }
  return 9;  // unknown mode, or the fatal signal did not end the process
}

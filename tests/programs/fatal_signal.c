// fatal_signal MODE: ends (or not) the way MODE says, after leaving blocks of known leak classes:
// a 1111-byte block reachable from a global, a 2222-byte block whose only pointer was overwritten
// (definitely lost), and a ring of three 48-byte blocks no root reaches (one definitely, two
// indirectly lost). Output goes through write(2), so it is complete whatever the end is.
//
//   segv        a write through a null pointer (SIGSEGV)
//   abort       abort() (SIGABRT)
//   fpe         an integer division by zero (SIGFPE)
//   ill         __builtin_trap() (SIGILL)
//   term_loop   prints "looping", then allocates and frees in a loop until a signal from outside
//   thread_segv a second thread writes through a null pointer while the main thread allocates
//   fork_segv   a fork child writes through a null pointer; the parent prints how it ended, exits 0
//   vfork_fail  a vfork child whose exec fails calls _exit(127); the parent prints it, exits 0
//   exec_term   execs /bin/sh -c 'kill -TERM $$': the new image dies by SIGTERM
//   recover     its own SIGSEGV handler siglongjmps out of three null writes; exits 0
//   ign_query   SIGINT set to SIG_IGN, then queried and raised (ignored); exits 0
//   dispositions  prints every signal's disposition as sigaction and signal() report it, sets SIGTERM
//               to SIG_DFL with flags and a mask, queries it back, raises SIGTERM
#define _GNU_SOURCE  // sigset
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "scrub.h"

#define NOINLINE __attribute__((noinline))

struct ring {
  struct ring* volatile next;
  char payload[40];
};

static char* volatile g_reachable;
static char* volatile g_overwritten;

static void say(const char* text) {
  if (write(1, text, strlen(text)) < 0) _exit(3);
}

static NOINLINE void leave_known_blocks(void) {
  g_reachable = malloc(1111);
  g_reachable[0] = 1;
  g_overwritten = malloc(2222);
  g_overwritten = NULL;
  struct ring* volatile a = malloc(sizeof(struct ring));
  struct ring* volatile b = malloc(sizeof(struct ring));
  struct ring* volatile c = malloc(sizeof(struct ring));
  a->next = b;
  b->next = c;
  c->next = a;
  a = b = c = NULL;
}

static sigjmp_buf recovery;
static volatile sig_atomic_t faults;

static void on_segv(int signo, siginfo_t* info, void* context) {
  (void)signo;
  (void)context;
  if (info->si_addr == NULL) ++faults;
  siglongjmp(recovery, 1);
}

static const char* kind_of(void (*handler)(int)) {
  if (handler == SIG_DFL) return "DFL";
  if (handler == SIG_IGN) return "IGN";
  return "handler";
}

// One line for signal `signo`: its disposition, flags and mask (as signals 1..64 in hex bits).
static void describe(int signo, const struct sigaction* action) {
  unsigned long long mask = 0;
  for (int s = 1; s <= 64; ++s) {
    if (sigismember(&action->sa_mask, s) == 1) mask |= 1ull << (s - 1);
  }
  char line[160];
  snprintf(line, sizeof line, "%d %s flags=%#x mask=%#llx\n", signo, kind_of(action->sa_handler),
           (unsigned)action->sa_flags, mask);
  say(line);
}

static void noop(int signo) { (void)signo; }

static void* crash_later(void* arg) {
  (void)arg;
  for (int i = 0; i < 1000; ++i) free(malloc(300));
  volatile int* volatile null = NULL;
  *null = 1;
  return NULL;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "segv";
  leave_known_blocks();
  scrub_stack();
  say("allocated\n");
  if (strcmp(mode, "segv") == 0) {
    volatile int* volatile null = NULL;
    *null = 1;
  } else if (strcmp(mode, "abort") == 0) {
    abort();
  } else if (strcmp(mode, "fpe") == 0) {
    volatile int zero = 0;
    volatile int quotient = 7 / zero;
    (void)quotient;
  } else if (strcmp(mode, "ill") == 0) {
    __builtin_trap();
  } else if (strcmp(mode, "term_loop") == 0) {
    say("looping\n");
    for (unsigned long n = 0;; ++n) {
      char* volatile p = malloc(16 + n % 4000);
      p[0] = 1;
      free(p);
    }
  } else if (strcmp(mode, "thread_segv") == 0) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, crash_later, NULL) != 0) return 2;
    for (unsigned long n = 0;; ++n) {
      char* volatile p = malloc(16 + n % 4000);
      p[0] = 1;
      free(p);
    }
  } else if (strcmp(mode, "fork_segv") == 0) {
    pid_t child = fork();
    if (child == 0) {
      free(malloc(4444));
      volatile int* volatile null = NULL;
      *null = 1;
      _exit(7);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return 2;
    char line[64];
    snprintf(line, sizeof line, "child killed by %d\n", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    say(line);
    return 0;
  } else if (strcmp(mode, "vfork_fail") == 0) {
    pid_t child = vfork();
    if (child == 0) {
      execl("/nonexistent/program", "program", (char*)NULL);
      _exit(127);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return 2;
    char line[64];
    snprintf(line, sizeof line, "child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    say(line);
    return 0;
  } else if (strcmp(mode, "exec_term") == 0) {
    execl("/bin/sh", "sh", "-c", "kill -TERM $$", (char*)NULL);
    return 2;
  } else if (strcmp(mode, "recover") == 0) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_sigaction = on_segv;
    action.sa_flags = SA_SIGINFO;
    sigemptyset(&action.sa_mask);
    struct sigaction old;
    if (sigaction(SIGSEGV, &action, &old) != 0) return 2;
    describe(SIGSEGV, &old);
    for (int i = 0; i < 3; ++i) {
      if (sigsetjmp(recovery, 1) == 0) {
        volatile int* volatile null = NULL;
        *null = i;
      }
      free(malloc(100));  // the allocator still works after each recovery
    }
    struct sigaction now;
    sigaction(SIGSEGV, NULL, &now);
    char line[64];
    snprintf(line, sizeof line, "recovered %d, own handler kept: %s\n", (int)faults,
             now.sa_sigaction == on_segv ? "yes" : "no");
    say(line);
    return 0;
  } else if (strcmp(mode, "ign_query") == 0) {
    void (*previous)(int) = signal(SIGINT, SIG_IGN);
    struct sigaction now;
    sigaction(SIGINT, NULL, &now);
    raise(SIGINT);  // ignored
    char line[96];
    snprintf(line, sizeof line, "SIGINT was %s, is %s, survived raise\n", kind_of(previous),
             kind_of(now.sa_handler));
    say(line);
    return 0;
  } else if (strcmp(mode, "dispositions") == 0) {
    for (int signo = 1; signo <= 64; ++signo) {
      struct sigaction action;
      if (sigaction(signo, NULL, &action) == 0) describe(signo, &action);
    }
    // SIG_DFL with flags and a mask of the program's own: reported back as set.
    struct sigaction mine;
    memset(&mine, 0, sizeof mine);
    mine.sa_handler = SIG_DFL;
    mine.sa_flags = SA_RESTART;
    sigemptyset(&mine.sa_mask);
    sigaddset(&mine.sa_mask, SIGUSR1);
    struct sigaction old;
    sigaction(SIGTERM, &mine, &old);
    describe(SIGTERM, &old);
    sigaction(SIGTERM, NULL, &old);
    describe(SIGTERM, &old);
    // signal() returns the previous disposition: SIG_DFL, then the program's handler.
    char line[96];
    void (*first)(int) = signal(SIGHUP, noop);
    void (*second)(int) = signal(SIGHUP, SIG_DFL);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"  // sigset: old, still used
    void (*third)(int) = sigset(SIGUSR2, SIG_IGN);
    void (*fourth)(int) = sigset(SIGUSR2, SIG_DFL);
#pragma GCC diagnostic pop
    snprintf(line, sizeof line, "signal: %s then %s; sigset: %s then %s\n", kind_of(first), kind_of(second),
             kind_of(third), kind_of(fourth));
    say(line);
    raise(SIGTERM);  // SIG_DFL again: the process ends by SIGTERM
  }
  say("not ended\n");
  return 9;
}

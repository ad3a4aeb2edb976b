// Threads still running when the process ends, for the leak scan's thread parking
// (tests/e2e/test_parked_threads.py). parked_threads CASE [N]:
//
//   register   a block whose only pointer is in a register of a thread spinning in a loop
//   stack      a block held only by a local of a running thread's live stack frame
//   dead       a block whose only pointer lies in a running thread's dead stack, far below its
//              stack pointer (a frame that returned): lost, for valgrind and memtrace alike
//   blocked    threads blocked in read(), nanosleep() and a futex (pthread_cond_wait) at exit
//   blockall   a worker that blocks every signal and spins
//   rthandlers the program handles SIGRTMIN..SIGRTMAX itself ("rthandlers 1": all but SIGRTMAX)
//   fork       threads, then fork: the child exits alone, the parent with its threads
//   fatal      the register case, ended by SIGSEGV
//   many N     N spinning threads and a 1 GiB reserved, untouched mapping (scan cost)
//
// Built -O2: the register case needs the pointer kept in a register, never spilled. The threads learn
// nothing through calls once they hold their block (see spin_holding), so no callee saves a copy.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NOINLINE __attribute__((noinline))

static atomic_int g_started;

static void die(const char* what) {
  fputs(what, stderr);
  exit(2);
}

static void start(void* (*body)(void*), void* arg) {
  pthread_t thread;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  if (pthread_create(&thread, &attr, body, arg)) die("pthread_create\n");
  pthread_attr_destroy(&attr);
}

static void wait_started(int n) {
  while (atomic_load(&g_started) < n) sched_yield();
}

// ---- register: the block's address lives in a register of a spinning thread only ------------------

static void* spin_holding(void* arg) {
  (void)arg;
  void* p = malloc(100);
  if (!p) die("malloc\n");
  // malloc's own frames left copies of the address in the dead stack below (which a scan of the whole
  // stack mapping, memtrace's before parking, would find): zero 64 KiB of it, red zone included (the
  // callee's frames reach into it; this function calls, so the compiler keeps nothing there). In
  // assembly, with no call, so p stays in a register (a call would make the compiler spill it).
  __asm__ volatile(
      "lea -65664(%%rsp), %%rdi\n\t"
      "mov $8208, %%ecx\n\t"
      "xor %%eax, %%eax\n\t"
      "rep stosq"
      : "+r"(p)
      :
      : "rdi", "rcx", "rax", "memory", "cc");
  atomic_fetch_add(&g_started, 1);  // a locked add: no call, p stays in its register
  for (;;) __asm__ volatile("" : "+r"(p));
  return NULL;
}

// ---- stack: a local of the running thread's own frame ----------------------------------------------

static void* spin_with_local(void* arg) {
  (void)arg;
  void* volatile local = malloc(200);  // volatile: kept in the frame, above the stack pointer
  atomic_fetch_add(&g_started, 1);
  for (;;) __asm__ volatile("" ::: "memory");
  return (void*)local;
}

// ---- dead: a frame that held the only pointer returned long ago -------------------------------------

static NOINLINE void hold_deep(void) {
  void* volatile p = malloc(300);
  (void)p;
}

static NOINLINE void below_a_big_frame(void) {
  volatile char pad[2048];  // hold_deep's frame lies this far below the spinning frame
  pad[0] = 1;
  hold_deep();
  pad[1] = pad[0];
}

static void* spin_after_return(void* arg) {
  (void)arg;
  below_a_big_frame();
  // Caller-saved registers may still hold the block's address from malloc's return: calls that
  // return other values overwrite them.
  char text[64];
  snprintf(text, sizeof text, "%d %d %d", 1, 2, 3);
  memset(text, 0, sizeof text);
  atomic_fetch_add(&g_started, 1);
  for (;;) __asm__ volatile("" ::: "memory");
  return NULL;
}

// ---- blocked: threads in read(), nanosleep() and a futex ----------------------------------------------

static int g_pipe[2];
static pthread_mutex_t g_mutex = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_cond = PTHREAD_COND_INITIALIZER;

static atomic_int g_blocked_tids[3];

static void* block_in_read(void* arg) {
  (void)arg;
  atomic_store(&g_blocked_tids[0], gettid());
  atomic_fetch_add(&g_started, 1);
  char c;
  ssize_t n = read(g_pipe[0], &c, 1);  // nobody writes: blocks until the process ends
  fprintf(stderr, "read returned %zd (%s)\n", n, n < 0 ? strerror(errno) : "data");
  exit(3);
}

static void* block_in_nanosleep(void* arg) {
  (void)arg;
  atomic_store(&g_blocked_tids[1], gettid());
  atomic_fetch_add(&g_started, 1);
  struct timespec left = {3600, 0};
  // The usual loop: nanosleep fails with EINTR after any signal handler, SA_RESTART or not.
  while (nanosleep(&left, &left) != 0) {
    if (errno != EINTR) {
      fprintf(stderr, "nanosleep failed: %s\n", strerror(errno));
      exit(3);
    }
  }
  fprintf(stderr, "nanosleep returned\n");
  exit(3);
}

static void* block_in_futex(void* arg) {
  (void)arg;
  pthread_mutex_lock(&g_mutex);
  atomic_store(&g_blocked_tids[2], gettid());
  atomic_fetch_add(&g_started, 1);
  int rc = pthread_cond_wait(&g_cond, &g_mutex);  // never signalled
  fprintf(stderr, "pthread_cond_wait returned %d\n", rc);
  exit(3);
}

// Waits until thread `tid` sleeps in system call `number` or `or_number` (/proc/self/task/TID/syscall:
// the number first), so the parking signal is sure to interrupt that call.
static void wait_in_syscall(int tid, long number, long or_number) {
  char path[64];
  snprintf(path, sizeof path, "/proc/self/task/%d/syscall", tid);
  for (;;) {
    FILE* f = fopen(path, "r");
    long current = -2;
    if (f) {
      if (fscanf(f, "%ld", &current) != 1) current = -2;
      fclose(f);
    }
    if (current == number || current == or_number) return;
    struct timespec nap = {0, 1000 * 1000};
    nanosleep(&nap, NULL);
  }
}

// ---- blockall: a worker that blocks every signal -------------------------------------------------

static void* spin_blocking_signals(void* arg) {
  (void)arg;
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, NULL);
  atomic_fetch_add(&g_started, 1);
  for (;;) __asm__ volatile("" ::: "memory");
  return NULL;
}

// ---- rthandlers: the program's own realtime-signal handlers --------------------------------------

static void program_handler(int signo) {
  char text[64];
  int n = snprintf(text, sizeof text, "program handler saw signal %d\n", signo);
  ssize_t ignored = write(2, text, (size_t)n);
  (void)ignored;
}

static void install_rt_handlers(int leave_last) {
  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = program_handler;
  action.sa_flags = SA_RESTART;
  int last = leave_last ? SIGRTMAX - 1 : SIGRTMAX;
  for (int signo = SIGRTMIN; signo <= last; ++signo) {
    if (sigaction(signo, &action, NULL) != 0) die("sigaction\n");
  }
}

// ---------------------------------------------------------------------------------------------------

static void spinners(int n) {
  for (int i = 0; i < n; ++i) start(spin_holding, NULL);
  wait_started(n);
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (strcmp(mode, "register") == 0) {
    spinners(1);
  } else if (strcmp(mode, "stack") == 0) {
    start(spin_with_local, NULL);
    wait_started(1);
  } else if (strcmp(mode, "dead") == 0) {
    start(spin_after_return, NULL);
    wait_started(1);
  } else if (strcmp(mode, "blocked") == 0) {
    if (pipe(g_pipe)) die("pipe\n");
    start(block_in_read, NULL);
    start(block_in_nanosleep, NULL);
    start(block_in_futex, NULL);
    wait_started(3);
    wait_in_syscall(g_blocked_tids[0], SYS_read, SYS_read);
    wait_in_syscall(g_blocked_tids[1], SYS_clock_nanosleep, SYS_nanosleep);
    wait_in_syscall(g_blocked_tids[2], SYS_futex, SYS_futex);
  } else if (strcmp(mode, "blockall") == 0) {
    start(spin_blocking_signals, NULL);
    wait_started(1);
  } else if (strcmp(mode, "rthandlers") == 0) {
    install_rt_handlers(argc > 2 && atoi(argv[2]));
    spinners(2);
  } else if (strcmp(mode, "fork") == 0) {
    spinners(2);
    pid_t child = fork();
    if (child < 0) die("fork\n");
    if (child == 0) {
      void* kept = malloc(64);  // the child's own block, reachable from its stack... then exit
      printf("child %p\n", kept);
      exit(0);
    }
    int status;
    if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) die("child\n");
  } else if (strcmp(mode, "fatal") == 0) {
    spinners(2);
    raise(SIGSEGV);
  } else if (strcmp(mode, "many") == 0) {
    int n = argc > 2 ? atoi(argv[2]) : 32;
    void* reserved =
        mmap(NULL, 1ul << 30, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (reserved == MAP_FAILED) die("mmap\n");
    ((char*)reserved)[12345] = 1;  // one touched page
    spinners(n);
  } else {
    die("usage: parked_threads register|stack|dead|blocked|blockall|rthandlers [1]|fork|fatal|many [N]\n");
  }
  printf("%s done\n", mode);
  return 0;
}

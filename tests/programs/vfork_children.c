// vfork children that use the parent's memory before leaving it, and posix_spawn/posix_spawnp.
// Modes (argv[1]):
//   exec     the child mallocs 3 blocks (1000, 2000, 300000 bytes: the last is mmapped), frees two,
//            then execs /bin/true; the 2000-byte block stays allocated in the parent's heap
//   exit     the child mallocs 4321 bytes, frees it, and _exits with 5; a second child only _exits(3)
//   threads  one thread allocates and frees in a loop while two others (main and a second) vfork
//            10 children each that malloc/free 777 bytes and exec /bin/true
//   fail     a seccomp filter makes the vfork system call fail with EAGAIN: vfork must return -1 with
//            errno EAGAIN, as glibc's does, and leave errno alone when it succeeds
//   spawn    posix_spawn(/bin/true), posix_spawnp(true) with 3 arguments, posix_spawn(/bin/true) with
//            600, then posix_spawn of a missing file (the child's exec fails: ENOENT)
// Prints what it did; exit code 0 when every child behaved.
#define _GNU_SOURCE
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

static int wait_status(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void* volatile kept;  // the block the exec child leaves to the parent
static void* volatile sink;  // keeps the compiler from eliding a malloc/free pair

static int exec_child(void) {
  pid_t pid = vfork();
  if (pid == 0) {
    void* a = sink = malloc(1000);
    void* b = sink = malloc(2000);
    void* c = sink = malloc(300000);
    free(a);
    free(c);
    kept = b;
    execl("/bin/true", "true", (char*)NULL);
    _exit(127);
  }
  if (pid < 0) return perror("vfork"), 1;
  int status = wait_status(pid);
  printf("exec child: status %d, kept %s\n", status, kept ? "a block" : "nothing");
  free(kept);
  return status != 0;
}

static int exit_child(void) {
  pid_t pid = vfork();
  if (pid == 0) {
    free(sink = malloc(4321));
    _exit(5);
  }
  if (pid < 0) return perror("vfork"), 1;
  int status = wait_status(pid);
  pid = vfork();
  if (pid == 0) _exit(3);
  if (pid < 0) return perror("vfork"), 1;
  int quiet = wait_status(pid);
  printf("exit children: status %d, %d\n", status, quiet);
  return status != 5 || quiet != 3;
}

static atomic_int stop;

static void* churn(void* unused) {
  (void)unused;
  unsigned long n = 0;
  while (!atomic_load(&stop)) {
    void* p = sink = malloc(64 + n % 512);
    free(p);
    ++n;
  }
  return NULL;
}

// 10 vfork children that each malloc/free 777 bytes and exec /bin/true; returns the failures.
static void* vfork_ten(void* unused) {
  (void)unused;
  volatile intptr_t failures = 0;
  for (int i = 0; i < 10; ++i) {
    pid_t pid = vfork();
    if (pid == 0) {
      free(sink = malloc(777));
      execl("/bin/true", "true", (char*)NULL);
      _exit(127);
    }
    failures += pid < 0 || wait_status(pid) != 0;
  }
  return (void*)failures;
}

static int threaded_children(void) {
  pthread_t churner, second;
  pthread_create(&churner, NULL, churn, NULL);
  pthread_create(&second, NULL, vfork_ten, NULL);  // vforks at the same time as the main thread
  intptr_t failures = (intptr_t)vfork_ten(NULL);
  void* theirs = NULL;
  pthread_join(second, &theirs);
  failures += (intptr_t)theirs;
  atomic_store(&stop, 1);
  pthread_join(churner, NULL);
  printf("threads: 20 children, %d failed\n", (int)failures);
  return failures != 0;
}

static int failing_vfork(void) {
  errno = 1234;  // a successful vfork leaves errno as it was
  pid_t pid = vfork();
  if (pid == 0) _exit(0);
  volatile int kept = errno == 1234 && wait_status(pid) == 0;
  struct sock_filter filter[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_vfork, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EAGAIN),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
  };
  struct sock_fprog program = {sizeof filter / sizeof filter[0], filter};
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) || prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program)) {
    return perror("seccomp"), 1;
  }
  errno = 0;
  pid = vfork();
  if (pid == 0) _exit(0);
  int error = errno;
  printf("fail: errno kept on success: %s; vfork = %d, errno %s\n", kept ? "yes" : "no", (int)pid,
         strerrorname_np(error));
  return !(kept && pid == -1 && error == EAGAIN);
}

static int spawned(void) {
  pid_t pid = 0;
  char* plain[] = {"true", NULL};
  char* three[] = {"true", "a", "b", NULL};
  int failures = 0;
  int result = posix_spawn(&pid, "/bin/true", NULL, NULL, plain, environ);
  failures += result != 0 || wait_status(pid) != 0;
  result = posix_spawnp(&pid, "true", NULL, NULL, three, environ);
  failures += result != 0 || wait_status(pid) != 0;
  // 600 arguments: glibc sizes the child's stack from argc (40 KiB here instead of 36).
  static char* many[601];
  for (int i = 0; i < 600; ++i) many[i] = i ? "x" : "true";
  result = posix_spawn(&pid, "/bin/true", NULL, NULL, many, environ);
  failures += result != 0 || wait_status(pid) != 0;
  result = posix_spawn(&pid, "/nonexistent/program", NULL, NULL, plain, environ);
  printf("spawn: %d failed, missing program: %s\n", failures, strerror(result));
  return failures != 0 || result == 0;
}

int main(int argc, char** argv) {
  const char* mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "exec")) return exec_child();
  if (!strcmp(mode, "exit")) return exit_child();
  if (!strcmp(mode, "threads")) return threaded_children();
  if (!strcmp(mode, "spawn")) return spawned();
  if (!strcmp(mode, "fail")) return failing_vfork();
  fprintf(stderr, "usage: vfork_children exec|exit|threads|fail|spawn\n");
  return 2;
}

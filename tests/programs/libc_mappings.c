// libc_mappings: mappings libc makes with its internal mmap, which no hook sees, and one made with a
// raw system call:
//   setlocale(LC_ALL, "C.UTF-8")   maps the locale's files
//   iconv_open("UTF-16", "UTF-8")  maps the gconv module cache
//   syscall(SYS_mmap, ...)         maps the first page of the executable (as a JIT or a static helper
//                                  might), found only by memtrace's periodic check
// then allocates for 300 ms so that the periodic check runs, and prints what it did.
#define _GNU_SOURCE
#include <fcntl.h>
#include <iconv.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds(void) {
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

int main(void) {
  const char* locale = setlocale(LC_ALL, "C.UTF-8");
  iconv_t converter = iconv_open("UTF-16", "UTF-8");
  int fd = open("/proc/self/exe", O_RDONLY);
  long raw = fd < 0 ? -1 : syscall(SYS_mmap, NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  double start = seconds();
  unsigned long blocks = 0;
  while (seconds() - start < 0.3) {
    void* volatile block = malloc(64);
    free(block);
    ++blocks;
  }
  printf("locale %s iconv %s raw mmap %s\n", locale ? locale : "(none)",
         converter == (iconv_t)-1 ? "failed" : "open", raw == -1 ? "failed" : "mapped");
  return blocks ? 0 : 1;
}

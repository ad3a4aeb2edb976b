// dl_cycle LIB_A LIB_B [ROUNDS]: dlopen one of two libraries, allocate through frames of its code,
// dlclose it, and again ROUNDS times (default 40), alternating. The libraries are mapped at the same
// address in turn, so an unwinder that kept a closed library's unwind rules would use the wrong ones.
// Each round runs in a thread of its own: libunwind's frame cache is per thread and is never told of a
// dlclose, so only a fresh thread lets it serve as the witness. Prints the sum of what was computed.
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

struct round {
  const char* path;
  int depth;
  long result;
  int failed;
};

static void* run_round(void* data) {
  struct round* r = data;
  void* library = dlopen(r->path, RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    fprintf(stderr, "dlopen: %s\n", dlerror());
    r->failed = 1;
    return NULL;
  }
  long (*work)(int) = (long (*)(int))dlsym(library, "work");
  if (!work) {
    r->failed = 1;
  } else {
    for (int k = 0; k < 20; ++k) r->result += work(r->depth);
  }
  dlclose(library);
  return NULL;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: dl_cycle LIB_A LIB_B [ROUNDS]\n");
    return 2;
  }
  int rounds = argc > 3 ? atoi(argv[3]) : 40;
  long total = 0;
  for (int i = 0; i < rounds; ++i) {
    struct round r = {argv[1 + i % 2], 5 + i % 7, 0, 0};
    pthread_t thread;
    if (pthread_create(&thread, NULL, run_round, &r) != 0 || pthread_join(thread, NULL) != 0 || r.failed)
      return 1;
    total += r.result;
  }
  printf("total %ld\n", total);
  return 0;
}

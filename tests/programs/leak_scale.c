// The exit-time scan at scale (tests/e2e/leak_scale.py): argv[1] blocks (default 10 million) of
// argv[2] bytes (default 100) kept live in one array until exit: ~1 GiB in 10M blocks, all reachable.
// With argv[3] = "abort" the program ends by abort() instead: the scan then runs in the preload's
// SIGABRT handler.
#include <stdlib.h>
#include <string.h>

int main(int argc, char** argv) {
  size_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000000;
  size_t size = argc > 2 ? strtoull(argv[2], NULL, 10) : 100;
  void** volatile blocks = malloc(count * sizeof(void*));
  for (size_t i = 0; i < count; ++i) {
    char* block = malloc(size);
    block[0] = (char)i;
    blocks[i] = block;
  }
  if (argc > 3 && strcmp(argv[3], "abort") == 0) abort();
  exit(0);
}

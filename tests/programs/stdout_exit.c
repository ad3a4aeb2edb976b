// stdout_exit CODE [BYTES]: writes BYTES (default 200000) of every byte value 0..255, no trailing
// newline, through stdio and with a few raw write()s in between, allocates and frees along the way,
// then exits with CODE.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char** argv) {
  int code = argc > 1 ? atoi(argv[1]) : 0;
  long bytes = argc > 2 ? strtol(argv[2], NULL, 0) : 200000;
  for (long i = 0; i < bytes; ++i) {
    if (i % 4096 == 0) {
      char* volatile p = malloc((size_t)(i % 300000) + 1);
      p[0] = (char)i;
      free(p);
    }
    if (i % 50000 == 25000) {
      fflush(stdout);
      unsigned char raw[3] = {(unsigned char)(i * 7), 0, 0xff};
      if (write(1, raw, sizeof raw) != (ssize_t)sizeof raw) return 99;
      continue;
    }
    putchar((int)((i * 31 + i / 256) & 0xff));
  }
  return code;
}

// static_hello: a statically linked program, which LD_PRELOAD cannot reach.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  char* volatile p = malloc(100);
  puts("hello from a static binary");
  free(p);
  return 0;
}

/* A leaky program, and its fix.
 *
 * Three kinds of block are still allocated when the program ends:
 *   - lost blocks: make_lines() mallocs three 100-byte lines and forgets each pointer; no pointer to
 *     them exists anywhere: "definitely lost";
 *   - a lost cycle: two nodes that point at each other, but nothing points at either of them; one is
 *     counted "definitely lost", the other "indirectly lost" (only a lost block points at it);
 *   - a cache: a 4096-byte block a global still points at: "still reachable", not a leak in the strict
 *     sense, but memory the program never gave back.
 * With --fixed it frees everything, and the leak report is empty.
 *
 *   memtrace run -o t.mtr -- build/bin/examples/leaky
 *   memtrace leaks t.mtr --show all    # the groups, largest first, with the line of each malloc
 *   memtrace run -o f.mtr -- build/bin/examples/leaky --fixed
 *   memtrace leaks f.mtr               # nothing left
 *
 * The exit-time scan looks for pointers in memory, like valgrind: the helpers below are not inlined
 * and scrub_stack() clears dead stack frames, so no stale copy of a lost pointer is found there.
 * The program prints to stderr, which has no stdio buffer (so no allocation of its own).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NOINLINE __attribute__((noinline))

struct node {
  struct node* next;
  char name[24];
};

static char* cache; /* a global: what it points at stays reachable */

static NOINLINE void make_lines(int fixed) {
  for (int i = 0; i < 3; ++i) {
    char* line = malloc(100); /* lost: the pointer is overwritten on the next turn */
    snprintf(line, 100, "line %d", i);
    if (fixed) free(line);
  }
}

static NOINLINE void make_cycle(int fixed) {
  struct node* a = malloc(sizeof(struct node)); /* a -> b -> a: a cycle nothing else points at */
  struct node* b = malloc(sizeof(struct node));
  a->next = b;
  b->next = a;
  if (fixed) {
    free(a);
    free(b);
  }
}

static NOINLINE void scrub_stack(void) {
  volatile char area[16 * 1024];
  memset((char*)area, 0, sizeof area);
}

int main(int argc, char** argv) {
  int fixed = argc > 1 && strcmp(argv[1], "--fixed") == 0;
  cache = malloc(4096); /* reachable through the global until the end */
  make_lines(fixed);
  make_cycle(fixed);
  scrub_stack();
  if (fixed) free(cache);
  fprintf(stderr, "%s\n", fixed ? "everything freed" : "3 lines, a cycle of 2 nodes and a cache left behind");
  return 0;
}

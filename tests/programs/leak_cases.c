// One leak-class case per run, chosen by argv[1]; test_leak_classes_vs_valgrind.py runs each under
// memtrace and under valgrind's memcheck and compares the four classes.
//
// The program must leave the same heap behind natively and under valgrind, so:
//  - no stdio (its buffers are libc allocations that valgrind's __libc_freeres frees at exit);
//  - every allocation happens in a noinline helper and every pointer lives in a volatile object, so
//    none is left in a register; scrub_stack() (scrub.h) then zeroes the dead stack below main and the
//    caller-saved registers, so no stale copy of a pointer the case means to lose survives in a dead
//    stack slot or in what an allocator (or memtrace's hook) left in a register;
//  - blocks whose classes depend on which one valgrind takes as a clique leader (the lowest address)
//    all have the same size, so the byte counts do not depend on where the allocator put them.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scrub.h"

#define NOINLINE __attribute__((noinline))

static void die(const char* message) {
  if (write(2, message, strlen(message)) < 0) _exit(3);
  _exit(2);
}

// ---- clean: everything freed ------------------------------------------------------------------------

static NOINLINE void case_clean(void) {
  void* volatile blocks[16];
  for (int i = 0; i < 16; ++i) blocks[i] = malloc(16 + 16 * (size_t)i);
  void* volatile grown = realloc(blocks[3], 4000);
  blocks[3] = grown;
  for (int i = 0; i < 16; ++i) free(blocks[i]);
  void* volatile zeroed = calloc(10, 10);
  free(zeroed);
}

// ---- overwritten: the only pointer to a block is overwritten -> definitely lost -------------------

static char* volatile g_overwritten;

static NOINLINE void case_overwritten(void) {
  g_overwritten = malloc(100);  // definitely lost once overwritten below
  g_overwritten = malloc(50);   // this one stays reachable from the global
  g_overwritten[0] = 1;
}

// ---- cycle: three blocks pointing at each other in a ring, no root -> 1 definite + 2 indirect ------

struct ring {
  struct ring* volatile next;
  char payload[32];
};

static NOINLINE void case_cycle(void) {
  struct ring* volatile a = malloc(sizeof(struct ring));
  struct ring* volatile b = malloc(sizeof(struct ring));
  struct ring* volatile c = malloc(sizeof(struct ring));
  a->next = b;
  b->next = c;
  c->next = a;
}

// ---- tree: a binary tree whose root pointer is lost -> root definite, every other node indirect ----
//
// Built bottom-up (children allocated before their parent), so the root is at the highest address:
// valgrind takes the lowest unreached block as a clique leader first, and a later leader absorbs the
// earlier ones it reaches.

struct node {
  struct node* volatile left;
  struct node* volatile right;
  uint64_t value;
};

static NOINLINE struct node* build_tree(int depth) {
  struct node* volatile left = depth > 0 ? build_tree(depth - 1) : NULL;
  struct node* volatile right = depth > 0 ? build_tree(depth - 1) : NULL;
  struct node* volatile n = malloc(sizeof(struct node));
  n->left = left;
  n->right = right;
  n->value = (uint64_t)depth;
  return n;
}

static struct node* volatile g_tree;

static NOINLINE void case_tree(void) {
  g_tree = build_tree(3);  // 15 nodes
  g_tree = NULL;
}

// ---- interior: a block reachable only through a pointer into its middle -> possibly lost ----------
//
// Offset 10 matches none of valgrind's heuristics (length64/newarray at 8, stdstring at 24).

static char* volatile g_interior;

static NOINLINE void case_interior(void) {
  char* block = malloc(100);
  memset(block, 0, 100);
  g_interior = block + 10;
}

// ---- global: a list held by a global -> still reachable --------------------------------------------

struct link {
  struct link* volatile next;
  char payload[56];
};

static struct link* volatile g_list;

static NOINLINE void case_global(void) {
  for (int i = 0; i < 3; ++i) {
    struct link* volatile l = malloc(sizeof(struct link));
    l->next = g_list;
    g_list = l;
  }
}

// ---- tls: a block held by a thread-local of the main thread -> still reachable ---------------------

static __thread void* volatile t_block;

static NOINLINE void case_tls(void) { t_block = malloc(300); }

// ---- thread_stack / thread_tls: held by a thread still blocked in read() when main calls exit() -----

static int g_ready[2], g_never[2];

static void block_forever(void) {
  char c = 0;
  if (write(g_ready[1], &c, 1) != 1) die("write\n");
  for (;;) {
    if (read(g_never[0], &c, 1) <= 0) die("read\n");  // nobody ever writes
  }
}

// The last block the thread allocates is lost (definitely): nothing of the program's points to it,
// though memtrace's own per-thread state remembers its address.
static NOINLINE void lose_one_block(void) {
  char* volatile lost = malloc(200);
  lost[0] = 1;
  lost = NULL;
}

static void* stack_holder(void* arg) {
  (void)arg;
  void* volatile held = malloc(400);  // only this stack slot points to it
  memset(held, 0, 400);
  lose_one_block();
  scrub_stack();  // only needed when memtrace cannot park the thread (then it scans the whole stack)
  block_forever();
  return NULL;
}

static __thread void* volatile t_thread_block;

static void* tls_holder(void* arg) {
  (void)arg;
  t_thread_block = malloc(500);  // only the thread's TLS points to it
  lose_one_block();
  scrub_stack();
  block_forever();
  return NULL;
}

static NOINLINE void start_blocked_thread(void* (*body)(void*)) {
  if (pipe(g_ready) || pipe(g_never)) die("pipe\n");
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  if (pthread_create(&thread, &attr, body, NULL)) die("pthread_create\n");
  pthread_attr_destroy(&attr);
  char c;
  if (read(g_ready[0], &c, 1) != 1) die("read ready\n");  // the thread holds its block now
}

static NOINLINE void case_thread_stack(void) { start_blocked_thread(stack_holder); }
static NOINLINE void case_thread_tls(void) { start_blocked_thread(tls_holder); }

// ---- heuristic: start pointers by valgrind's heuristics for malloc'd blocks -> still reachable -------
//
// length64: first word = size - 8, pointer at +8. newarray: first word divides size - 8, pointer at
// +8 (valgrind applies it to any block, not only operator new[]'s).

static char* volatile g_length64;
static char* volatile g_newarray;

static NOINLINE void case_heuristic(void) {
  uint64_t* a = malloc(72);
  a[0] = 64;
  g_length64 = (char*)(a + 1);
  uint64_t* b = malloc(8 + 5 * 12);
  b[0] = 5;
  g_newarray = (char*)(b + 1);
}

// ---- last: the program's very last allocation is lost, and nothing is scrubbed -------------------
// The pointer was last in the allocation's return register and in memtrace's hook frames, whose dead
// slots lie where the exit path's frames go, and in memtrace's own writer state: none of that is the
// program's, so the block is definitely lost, as valgrind finds.

static NOINLINE void case_last(void) {
  char* volatile block = malloc(77);
  block[0] = 1;
  block = NULL;
}

struct leak_case {
  const char* name;
  void (*run)(void);
};

static const struct leak_case kCases[] = {
    {"clean", case_clean},
    {"overwritten", case_overwritten},
    {"cycle", case_cycle},
    {"tree", case_tree},
    {"interior", case_interior},
    {"global", case_global},
    {"tls", case_tls},
    {"thread_stack", case_thread_stack},
    {"thread_tls", case_thread_tls},
    {"heuristic", case_heuristic},
    {"last", case_last},
};

int main(int argc, char** argv) {
  if (argc != 2) die("usage: leak_cases CASE\n");
  for (size_t i = 0; i < sizeof kCases / sizeof kCases[0]; ++i) {
    if (strcmp(argv[1], kCases[i].name) == 0) {
      kCases[i].run();
      if (kCases[i].run != case_last) scrub_stack();
      exit(0);
    }
  }
  die("unknown case\n");
}

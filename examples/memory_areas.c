/* Where does each kind of data live? Static, global, constant, stack and heap data side by side.
 *
 * The program prints the address of one object of each kind, then waits (with --pause) so that
 * you can look at the process with pmap. memtrace's map at exit shows the same areas:
 *
 *   memtrace run -o t.mtr -- build/bin/examples/memory_areas
 *   memtrace maps t.mtr --at end      # the mappings when the program ended, pmap style
 *   build/bin/examples/memory_areas --pause & sleep 1; pmap -x $!; kill %1
 *
 * What to look for: the executable is mapped several times (code r-x, constants r--, data rw-):
 * globals and statics are in its rw- mapping, constants and string literals in an r-- one, code in
 * the r-x one; malloc'd data is in [heap] (above the executable, grown with brk); locals are in
 * [stack] near the top of the address space.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int global_initialised = 42;          /* .data: the executable's rw- mapping */
int global_zeroed;                    /* .bss: rw- too (may spill into an anonymous mapping) */
static int static_global = 7;         /* .data, visible in this file only */
const int global_constant = 1234;     /* .rodata: the executable's r-- mapping */
const char* const greeting = "hello"; /* the literal "hello" is in .rodata too */

int main(int argc, char** argv) {
  (void)argv;
  static int static_local = 3;           /* .data: a static local lives with the globals */
  int stack_local = 5;                   /* the stack */
  int* heap_block = malloc(sizeof(int)); /* the heap */
  if (!heap_block) return 1;
  *heap_block = 9;

  printf("code            %p\n", (void*)main);
  printf("global          %p\n", (void*)&global_initialised);
  printf("global_zeroed   %p\n", (void*)&global_zeroed);
  printf("static_global   %p\n", (void*)&static_global);
  printf("static_local    %p\n", (void*)&static_local);
  printf("constant        %p\n", (void*)&global_constant);
  printf("string_literal  %p\n", (void*)greeting);
  printf("heap            %p\n", (void*)heap_block);
  printf("stack           %p\n", (void*)&stack_local);
  fflush(stdout);
  if (argc > 1) pause(); /* --pause: wait for pmap */
  free(heap_block);
  return 0;
}

#!/usr/bin/env python3
"""Writes a C program whose allocation stacks go through about a million distinct return addresses.

The program has LEVELS levels of functions; level l has STACKS / CASES functions of CASES call sites
each (a switch), so every level holds STACKS distinct call sites. Run with argument STACKS, stack s
(0 <= s < STACKS) goes through call site p_l(s) = (s * A_l + B_l) mod STACKS at level l (A_l odd: a
permutation of the sites), so each call site is on exactly one stack and the program's stacks together
hold LEVELS * STACKS distinct return addresses. The leaf allocates 16..23 bytes per stack and keeps the
block in a global array (still reachable at exit), so `memtrace leaks --show all` lists every stack.

Output: DIR/frames_main.c and DIR/frames_level_NN.c (one file per level, so a parallel build helps).
Build at -O0 -g: the files compile quickly and every call stays a call.

    bench/frames_gen.py --out /tmp/frames --levels 64 --stacks 16384 --cases 128
"""

from __future__ import annotations

import argparse
import os


def permutation(level: int, stacks: int) -> tuple[int, int]:
    """(A, B) of level's site permutation: A odd (invertible mod a power of two), B any offset."""
    a = (0x9E3779B1 * (level + 1)) % stacks | 1
    b = (0x85EBCA77 * (level + 7)) % stacks
    return a, b


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", required=True)
    parser.add_argument("--levels", type=int, default=64)
    parser.add_argument("--stacks", type=int, default=16384, help="a power of two")
    parser.add_argument("--cases", type=int, default=128, help="call sites per function; divides --stacks")
    args = parser.parse_args()
    stacks, cases, levels = args.stacks, args.cases, args.levels
    assert stacks & (stacks - 1) == 0 and stacks % cases == 0
    functions = stacks // cases
    os.makedirs(args.out, exist_ok=True)
    perms = [permutation(level, stacks) for level in range(levels)]
    inverses = [pow(a, -1, stacks) for a, _ in perms]

    def site(level: int, s: int) -> int:
        a, b = perms[level]
        return (s * a + b) % stacks

    def stack_at(level: int, call_site: int) -> int:
        _, b = perms[level]
        return ((call_site - b) * inverses[level]) % stacks

    declarations = []
    for level in range(levels):
        for f in range(functions):
            declarations.append(f"void* f{level}_{f}(unsigned s);")
    header = "\n".join(declarations) + "\nvoid* leaf(unsigned s);\nextern volatile unsigned calls;\n"
    with open(os.path.join(args.out, "frames.h"), "w") as out:
        out.write(header)

    for level in range(levels):
        a, b = perms[level]
        lines = ['#include "frames.h"', ""]
        for f in range(functions):
            lines.append(f"void* f{level}_{f}(unsigned s) {{")
            lines.append("  void* r = 0;")
            lines.append(f"  switch (((s * {a}u + {b}u) & {stacks - 1}u) % {cases}u) {{")
            for k in range(cases):
                call_site = f * cases + k
                s = stack_at(level, call_site)
                callee = "leaf(s)" if level + 1 == levels else f"f{level + 1}_{site(level + 1, s) // cases}(s)"
                lines.append(f"    case {k}: r = {callee}; break;")
            lines.append("  }")
            lines.append("  ++calls;  // after the call: no tail call, so this frame stays on the stack")
            lines.append("  return r;")
            lines.append("}")
        with open(os.path.join(args.out, f"frames_level_{level:02}.c"), "w") as out:
            out.write("\n".join(lines) + "\n")

    main_c = f"""#include <stdio.h>
#include <stdlib.h>
#include "frames.h"

volatile unsigned calls;
static void* kept[{stacks}];

void* leaf(unsigned s) {{
  void* p = malloc(16 + (s & 7));
  ++calls;
  return p;
}}

int main(int argc, char** argv) {{
  unsigned n = argc > 1 ? (unsigned)atoi(argv[1]) : {stacks}u;
  if (n > {stacks}u) n = {stacks}u;
  for (unsigned s = 0; s < n; ++s) kept[s] = f0_{0}(s);
  printf("%u stacks, %u calls\\n", n, calls);
  return 0;
}}
"""
    # Level 0's entry: stack s starts at function site(0, s) / cases; main dispatches through a table.
    table = ", ".join(f"f0_{f}" for f in range(functions))
    main_c = main_c.replace(
        f"kept[s] = f0_{0}(s);",
        f"kept[s] = entry[(((s * {perms[0][0]}u + {perms[0][1]}u) & {stacks - 1}u)) / {cases}u](s);")
    main_c = main_c.replace("int main(", f"static void* (*const entry[])(unsigned) = {{{table}}};\n\nint main(")
    with open(os.path.join(args.out, "frames_main.c"), "w") as out:
        out.write(main_c)
    print(f"{levels} levels x {stacks} call sites = {levels * stacks} distinct call sites in "
          f"{levels * functions} functions; {stacks} stacks")


if __name__ == "__main__":
    main()

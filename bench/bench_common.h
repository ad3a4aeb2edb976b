// Helpers shared by the benchmark workloads: a fixed-seed PRNG, argument parsing and a compiler
// barrier that keeps malloc/free pairs from being optimised away.
#pragma once

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// xorshift64*: deterministic, cheap, good enough for picking sizes and slots.
static inline uint64_t bench_next(uint64_t* state) {
  uint64_t x = *state;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  *state = x;
  return x * 0x2545F4914F6CDD1DULL;
}

// Keeps `p` (and the memory behind it) alive as far as the optimiser knows: gcc may otherwise delete
// a malloc whose result is only freed.
static inline void bench_escape(void* p) { __asm__ volatile("" : : "r"(p) : "memory"); }

// Parses "-n N" / "--n=N"-style count arguments; returns `fallback` when absent.
static inline long bench_count_arg(int argc, char** argv, const char* name, long fallback) {
  size_t len = strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], name) == 0 && i + 1 < argc) return strtol(argv[i + 1], NULL, 10);
    if (strncmp(argv[i], name, len) == 0 && argv[i][len] == '=') return strtol(argv[i] + len + 1, NULL, 10);
  }
  return fallback;
}

static inline int bench_flag(int argc, char** argv, const char* name) {
  for (int i = 1; i < argc; ++i)
    if (strcmp(argv[i], name) == 0) return 1;
  return 0;
}

// `n` malloc(64)/free pairs, each block touched once: the fixed-size churn of `churn --fixed64` and of
// `depth` at the bottom of its recursion. Returns a checksum the caller keeps alive.
static inline uint64_t bench_fixed64_pairs(long n) {
  uint64_t checksum = 0;
  for (long i = 0; i < n; ++i) {
    char* p = malloc(64);
    p[0] = (char)i;
    bench_escape(p);
    checksum += (uint8_t)p[0];
    free(p);
  }
  return checksum;
}

// FUZZ_CHECK(condition) for the fuzz targets' promises beyond "no crash". Under libFuzzer a broken
// promise aborts (libFuzzer keeps the input); in a replay test (MEMTRACE_FUZZ_REPLAY) it records which
// promise broke in fuzz::violation and returns from the entry point, so the test can name the input.
// Each fuzz target defines `violation` once (MEMTRACE_FUZZ_REPLAY builds only).
#pragma once

#include <cstdlib>

#ifdef MEMTRACE_FUZZ_REPLAY
namespace memtrace::format::fuzz {
extern const char* violation;
}  // namespace memtrace::format::fuzz
#define FUZZ_CHECK(condition)                         \
  do {                                                \
    if (!(condition)) {                               \
      memtrace::format::fuzz::violation = #condition; \
      return 0;                                       \
    }                                                 \
  } while (0)
#else
#define FUZZ_CHECK(condition)  \
  do {                         \
    if (!(condition)) abort(); \
  } while (0)
#endif

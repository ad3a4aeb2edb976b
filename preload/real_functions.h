// The functions the hooks forward to, declared once in MEMTRACE_HOOKED_FUNCTIONS.
//
// Concurrency contract: the table is filled once by InitializeTracer() (first hook call, single thread
// in practice) and only read afterwards. Until then the malloc family points at glibc's exported
// __libc_* entry points and the rest is null (callers fall back to raw syscalls), so a hook reached
// before initialization, or from inside dlsym, always has somewhere to go.
#pragma once

#include <iconv.h>
#include <locale.h>
#include <pthread.h>
#include <spawn.h>
#include <sys/types.h>

#include <cstddef>
#include <cstdint>

namespace memtrace::preload {

// Short names that keep the posix_spawn entries below on one line each.
using SpawnActs = const posix_spawn_file_actions_t*;
using SpawnAttr = const posix_spawnattr_t*;
using Argv = char* const*;

// X(name, return type, parameter list): every libc function memtrace interposes and forwards to.
#define MEMTRACE_HOOKED_FUNCTIONS(X)                                                   \
  X(malloc, void*, (size_t))                                                           \
  X(calloc, void*, (size_t, size_t))                                                   \
  X(realloc, void*, (void*, size_t))                                                   \
  X(free, void, (void*))                                                               \
  X(posix_memalign, int, (void**, size_t, size_t))                                     \
  X(aligned_alloc, void*, (size_t, size_t))                                            \
  X(memalign, void*, (size_t, size_t))                                                 \
  X(valloc, void*, (size_t))                                                           \
  X(pvalloc, void*, (size_t))                                                          \
  X(mallopt, int, (int, int))                                                          \
  X(malloc_trim, int, (size_t))                                                        \
  X(mmap, void*, (void*, size_t, int, int, int, off_t))                                \
  X(mmap64, void*, (void*, size_t, int, int, int, off_t))                              \
  X(munmap, int, (void*, size_t))                                                      \
  X(mremap, void*, (void*, size_t, size_t, int, ...))                                  \
  X(mprotect, int, (void*, size_t, int))                                               \
  X(madvise, int, (void*, size_t, int))                                                \
  X(brk, int, (void*))                                                                 \
  X(sbrk, void*, (intptr_t))                                                           \
  X(exit, void, (int))                                                                 \
  X(_exit, void, (int))                                                                \
  X(_Exit, void, (int))                                                                \
  X(fork, pid_t, ())                                                                   \
  X(_Fork, pid_t, ())                                                                  \
  X(pthread_create, int, (pthread_t*, const pthread_attr_t*, void* (*)(void*), void*)) \
  X(execve, int, (const char*, char* const*, char* const*))                            \
  X(execvpe, int, (const char*, char* const*, char* const*))                           \
  X(fexecve, int, (int, char* const*, char* const*))                                   \
  X(dlopen, void*, (const char*, int))                                                 \
  X(dlclose, int, (void*))                                                             \
  X(setlocale, char*, (int, const char*))                                              \
  X(newlocale, locale_t, (int, const char*, locale_t))                                 \
  X(iconv_open, iconv_t, (const char*, const char*))                                   \
  X(posix_spawn, int, (pid_t*, const char*, SpawnActs, SpawnAttr, Argv, Argv))         \
  X(posix_spawnp, int, (pid_t*, const char*, SpawnActs, SpawnAttr, Argv, Argv))

struct RealFunctions {
#define MEMTRACE_REAL_POINTER(name, ret, params) ret(*name) params = nullptr;
  MEMTRACE_HOOKED_FUNCTIONS(MEMTRACE_REAL_POINTER)
#undef MEMTRACE_REAL_POINTER
};

extern RealFunctions real;

// Looks up the next definition of every hooked function. Returns the path of the library that malloc
// resolved to (a static buffer).
const char* ResolveRealFunctions();

// True when malloc resolved to glibc's own allocator, whose chunk headers we know how to read.
bool RealMallocIsGlibc();

// True when the executable (or a library preloaded before memtrace) defines malloc: it comes first in
// symbol lookup, so the program's calls never reach our hooks.
bool MallocDefinedBeforeUs();

// True if the definition of `symbol` the program reaches first is not memtrace's.
bool DefinedBeforeUs(const char* symbol);

}  // namespace memtrace::preload

// memtrace-replay OPS [--no-touch]: executes a compiled op stream (written by `memtrace replay`) in
// this fresh process, under whatever allocator LD_PRELOAD put in front of glibc, and prints one line of
// key=value measurements on stdout for `memtrace replay` to read.
//
// Linked without the C++ runtime (see analyzer/CMakeLists.txt): libstdc++ allocates at start-up, and
// any allocation of the replayer's own would change the heap being measured. So: no new, no
// exceptions, no iostream; output through snprintf + write.
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "analyzer/replay/replay_engine.h"
#include "analyzer/replay/syscall_counters.h"

using namespace memtrace::replay;

namespace {

[[noreturn]] void Die(const char* what, const char* detail) {
  char line[1024];
  int n = snprintf(line, sizeof line, "memtrace-replay: error: %s%s%s\n", what, detail ? ": " : "",
                   detail ? detail : "");
  ssize_t ignored = write(2, line, static_cast<size_t>(n));
  (void)ignored;
  _exit(1);
}

uint64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

// The library that defines the malloc this process calls (the first in symbol search order).
const char* MallocLibrary() {
  Dl_info info;
  void* symbol = dlsym(RTLD_DEFAULT, "malloc");
  if (!symbol || !dladdr(symbol, &info) || !info.dli_fname) return "unknown";
  return info.dli_fname;
}

bool IsGlibc(const char* library) {
  const char* base = strrchr(library, '/');
  return strncmp(base ? base + 1 : library, "libc.so", 7) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  const char* path = nullptr;
  ReplayOptions options;
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--no-touch") == 0) {
      options.touch = false;
    } else if (argv[i][0] == '-' || path) {
      Die("usage: memtrace-replay OPS [--no-touch]; unexpected", argv[i]);
    } else {
      path = argv[i];
    }
  }
  if (!path) Die("usage: memtrace-replay OPS [--no-touch]", nullptr);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) Die(path, strerror(errno));
  OpFileHeader header;
  if (pread(fd, &header, sizeof header, 0) != sizeof header || !IsOpFileHeader(header)) {
    Die(path, "not a memtrace replay op stream");
  }
  const char* library = MallocLibrary();
  options.glibc = IsGlibc(library);
  const char* error = nullptr;
  if (!PrepareReplay(fd, header, options, &error)) Die(path, error);

  SyscallCounters counters;
  ReplayTotals totals;
  counters.Start();
  uint64_t start = MonotonicNs();
  RunReplay(&totals);
  uint64_t wall = MonotonicNs() - start;
  counters.Stop();

  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  char line[2048];
  auto count = [&](CountedSyscall which) {
    return counters.available() ? static_cast<long long>(counters.Read(which)) : -1LL;
  };
  int n = snprintf(
      line, sizeof line,
      "operations=%llu threads=%u wall_ns=%llu peak_rss_bytes=%llu peak_live_bytes=%llu mmap_calls=%lld "
      "munmap_calls=%lld mremap_calls=%lld brk_calls=%lld brk_moves=%llu glibc=%d heap_allocations=%llu "
      "mmapped_allocations=%llu verdict_mismatches=%llu brk_mismatches=%llu failed_allocations=%llu "
      "first_verdict_mismatch=%lld first_brk_mismatch=%lld allocator=%s\n",
      static_cast<unsigned long long>(totals.operations), header.threads,
      static_cast<unsigned long long>(wall), static_cast<unsigned long long>(usage.ru_maxrss) * 1024,
      static_cast<unsigned long long>(totals.peak_live_bytes), count(CountedSyscall::kMmap),
      count(CountedSyscall::kMunmap), count(CountedSyscall::kMremap), count(CountedSyscall::kBrk),
      static_cast<unsigned long long>(totals.brk_moves), options.glibc ? 1 : 0,
      static_cast<unsigned long long>(totals.heap_allocations),
      static_cast<unsigned long long>(totals.mmapped_allocations),
      static_cast<unsigned long long>(totals.verdict_mismatches),
      static_cast<unsigned long long>(totals.brk_mismatches),
      static_cast<unsigned long long>(totals.failed_allocations),
      static_cast<long long>(totals.first_verdict_mismatch),
      static_cast<long long>(totals.first_brk_mismatch), library);
  if (n < 0 || write(1, line, static_cast<size_t>(n)) != n) return 1;
  return 0;
}

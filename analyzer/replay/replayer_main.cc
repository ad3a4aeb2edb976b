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
#include <stdlib.h>
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

// Resident bytes now, from /proc/self/statm (read with plain syscalls: stdio would allocate).
uint64_t ResidentBytes() {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char text[128] = {};
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  if (n <= 0) return 0;
  const char* resident = strchr(text, ' ');
  return resident ? strtoull(resident + 1, nullptr, 10) * static_cast<uint64_t>(sysconf(_SC_PAGESIZE)) : 0;
}

uint64_t CpuNs(const rusage& usage) {
  auto ns = [](const timeval& t) {
    return static_cast<uint64_t>(t.tv_sec) * 1000000000u + static_cast<uint64_t>(t.tv_usec) * 1000u;
  };
  return ns(usage.ru_utime) + ns(usage.ru_stime);
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

  // The replay's own memory begins here: the tables and buffers are mapped, the prefill allocated.
  uint64_t start_rss = ResidentBytes();
  const char* counting_error = nullptr;
  bool counting = StartSyscallCounting(&counting_error);
  ReplayTotals totals;
  rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  uint64_t cpu_start = CpuNs(usage);
  uint64_t start = MonotonicNs();
  RunReplay(&totals);
  uint64_t wall = MonotonicNs() - start;
  getrusage(RUSAGE_SELF, &usage);  // CPU time of every thread, joined ones included
  uint64_t cpu = CpuNs(usage) - cpu_start;
  auto count = [&](CountedSyscall which, CallOwner owner) {
    return counting ? static_cast<long long>(SyscallCount(which, owner)) : -1LL;
  };
  auto u = [](uint64_t value) { return static_cast<unsigned long long>(value); };
  using CallOwner::kAllocator, CallOwner::kProgram, CallOwner::kReplayer;
  using CountedSyscall::kMmap, CountedSyscall::kMunmap, CountedSyscall::kMremap, CountedSyscall::kBrk;
  char line[4096];
  int n = snprintf(
      line, sizeof line,
      "operations=%llu threads=%u wall_ns=%llu cpu_ns=%llu peak_rss_bytes=%llu start_rss_bytes=%llu "
      "peak_live_bytes=%llu "
      "mmap_calls=%lld munmap_calls=%lld mremap_calls=%lld brk_calls=%lld program_brk_syscalls=%lld "
      "replayer_mmap_calls=%lld replayer_munmap_calls=%lld replayer_mremap_calls=%lld "
      "replayer_brk_calls=%lld "
      "brk_moves=%llu glibc=%d heap_allocations=%llu mmapped_allocations=%llu verdict_mismatches=%llu "
      "brk_mismatches=%llu failed_allocations=%llu mallopt_calls=%llu malloc_trim_calls=%llu "
      "trim_result_mismatches=%llu program_brk_calls=%llu failed_program_brk_calls=%llu "
      "first_verdict_mismatch=%lld first_brk_mismatch=%lld allocator=%s\n",
      u(totals.operations), header.threads, u(wall), u(cpu), u(static_cast<uint64_t>(usage.ru_maxrss) * 1024),
      u(start_rss), u(totals.peak_live_bytes), count(kMmap, kAllocator), count(kMunmap, kAllocator),
      count(kMremap, kAllocator), count(kBrk, kAllocator), count(kBrk, kProgram), count(kMmap, kReplayer),
      count(kMunmap, kReplayer), count(kMremap, kReplayer), count(kBrk, kReplayer), u(totals.brk_moves),
      options.glibc ? 1 : 0, u(totals.heap_allocations), u(totals.mmapped_allocations),
      u(totals.verdict_mismatches), u(totals.brk_mismatches), u(totals.failed_allocations),
      u(totals.mallopt_calls), u(totals.malloc_trim_calls), u(totals.trim_result_mismatches),
      u(totals.program_brk_calls), u(totals.failed_program_brk_calls),
      static_cast<long long>(totals.first_verdict_mismatch),
      static_cast<long long>(totals.first_brk_mismatch), library);
  if (!counting) {
    // The measurements stand; the syscall counts are unknown (-1), and the reason goes to stderr.
    char warning[256];
    int w = snprintf(warning, sizeof warning, "memtrace-replay: warning: no syscall counts: %s\n",
                     counting_error);
    ssize_t ignored = write(2, warning, static_cast<size_t>(w));
    (void)ignored;
  }
  if (n < 0 || write(1, line, static_cast<size_t>(n)) != n) return 1;
  return 0;
}

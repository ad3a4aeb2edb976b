#include "preload/safe_memory.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

namespace memtrace::preload {

void* MapScratch(uint64_t bytes) {
  long map = syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  return (map < 0 && map > -4096) ? nullptr : reinterpret_cast<void*>(map);
}

void UnmapScratch(void* p, uint64_t bytes) {
  if (p) syscall(SYS_munmap, p, bytes);
}

bool PrepareSafeMemory(SafeMemory& memory, bool checked_only, bool others_stopped) {
  memory.window = static_cast<uint64_t*>(MapScratch(kWindowBytes + 4096));
  if (!memory.window) return false;
  memory.pid = getpid();
  if (others_stopped && !checked_only) {
    memory.direct = true;
    return true;
  }
  char status[4096];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  ssize_t n = fd >= 0 ? read(fd, status, sizeof status - 1) : -1;
  if (fd >= 0) close(fd);
  if (n > 0 && !checked_only) {
    status[n] = 0;
    const char* threads = strstr(status, "Threads:");
    memory.direct = threads && atoi(threads + 8) == 1;
    if (memory.direct) return true;
  }
  uint64_t probe = 0x6d656d7472616365;
  iovec local{memory.window, 8};
  iovec remote{&probe, 8};
  return syscall(SYS_process_vm_readv, memory.pid, &local, 1, &remote, 1, 0) == 8;
}

}  // namespace memtrace::preload

#include "analyzer/replay/syscall_counters.h"

#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtrace::replay {

namespace {

const char* const kTracepoints[] = {"sys_enter_mmap", "sys_enter_munmap", "sys_enter_mremap",
                                    "sys_enter_brk"};
const char* const kTracefsRoots[] = {"/sys/kernel/tracing", "/sys/kernel/debug/tracing"};

// The tracepoint's id, or -1 when tracefs is not mounted or has no syscall events.
long TracepointId(const char* name) {
  for (const char* root : kTracefsRoots) {
    char path[256];
    snprintf(path, sizeof path, "%s/events/syscalls/%s/id", root, name);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char text[32] = {};
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n > 0) return strtol(text, nullptr, 10);
  }
  return -1;
}

int OpenCounter(long id) {
  perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.type = PERF_TYPE_TRACEPOINT;
  attr.size = sizeof attr;
  attr.config = static_cast<uint64_t>(id);
  attr.disabled = 1;
  attr.inherit = 1;  // threads created later count too
  attr.exclude_kernel = 0;
  return static_cast<int>(syscall(SYS_perf_event_open, &attr, 0 /* this process */, -1 /* any cpu */, -1, 0));
}

}  // namespace

SyscallCounters::SyscallCounters() {
  for (int& fd : fds_) fd = -1;
  available_ = true;
  for (int i = 0; i < static_cast<int>(CountedSyscall::kCount); ++i) {
    long id = TracepointId(kTracepoints[i]);
    fds_[i] = id < 0 ? -1 : OpenCounter(id);
    if (fds_[i] < 0) available_ = false;
  }
}

SyscallCounters::~SyscallCounters() {
  for (int fd : fds_) {
    if (fd >= 0) close(fd);
  }
}

void SyscallCounters::Start() {
  if (!available_) return;
  for (int fd : fds_) ioctl(fd, PERF_EVENT_IOC_ENABLE, 0);
}

void SyscallCounters::Stop() {
  if (!available_) return;
  for (int fd : fds_) ioctl(fd, PERF_EVENT_IOC_DISABLE, 0);
}

uint64_t SyscallCounters::Read(CountedSyscall which) const {
  int fd = fds_[static_cast<int>(which)];
  uint64_t value = 0;
  if (!available_ || fd < 0 || read(fd, &value, sizeof value) != sizeof value) return 0;
  return value;
}

}  // namespace memtrace::replay

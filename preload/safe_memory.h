// Scratch memory and safe reads for the exit-time leak scan.
//
// The scan runs while other threads may still run and unmap memory (free an mmapped block, a stack
// given back). SafeMemory copies memory through process_vm_readv, which reports EFAULT where a plain
// load would crash the program, into a scratch window; a process with a single thread left is read
// with plain loads. Scratch comes straight from mmap: the scan must not allocate through the hooks.
#pragma once

#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdint>

namespace memtrace::preload {

void* MapScratch(uint64_t bytes);
void UnmapScratch(void* p, uint64_t bytes);

inline constexpr uint64_t kWindowBytes = 64 * 1024;

struct SafeMemory {
  uint64_t* window = nullptr;  // kWindowBytes of scratch, then a few words for block headers
  uint64_t* header() { return window + kWindowBytes / 8; }
  bool direct = false;  // plain loads: the process has no other thread to unmap memory
  long pid = 0;

  // Copies up to `bytes` (<= kWindowBytes) from `address` to `to`; returns bytes copied (a prefix,
  // ending at the first unreadable page).
  uint64_t Copy(uint64_t* to, uint64_t address, uint64_t bytes) {
    if (direct) {
      const auto* source = reinterpret_cast<const uint64_t*>(address);
      for (uint64_t i = 0; i < bytes / 8; ++i) to[i] = source[i];
      return bytes & ~uint64_t{7};
    }
    iovec local{to, bytes};
    iovec remote{reinterpret_cast<void*>(address), bytes};
    long copied = syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0);
    return copied > 0 ? static_cast<uint64_t>(copied) : 0;
  }

  // Calls visit(word) for every aligned 8-byte word of [begin, end) that can be read.
  template <typename Visit>
  void ForEachWord(uint64_t begin, uint64_t end, Visit visit) {
    begin = (begin + 7) & ~uint64_t{7};
    if (direct) {
      for (uint64_t p = begin; p + 8 <= end; p += 8) visit(*reinterpret_cast<const uint64_t*>(p));
      return;
    }
    while (begin + 8 <= end) {
      uint64_t want = end - begin < kWindowBytes ? end - begin : kWindowBytes;
      uint64_t got = Copy(window, begin, want);
      for (uint64_t i = 0; i < got / 8; ++i) visit(window[i]);
      // An unreadable page: skip to the next one.
      begin = got ? begin + (got & ~uint64_t{7}) : (begin + 4096) & ~uint64_t{4095};
    }
  }
};

// Decides how memory is read; returns false if it cannot be read safely at all. A process with one
// thread left, or whose other threads are all parked outside memtrace's hooks (`others_stopped`), is
// read with plain loads (nothing can unmap memory under the scan, and every block the trace calls live
// is still allocated); otherwise through process_vm_readv, which costs a system call per block.
// `checked_only` rules plain loads out.
bool PrepareSafeMemory(SafeMemory& memory, bool checked_only, bool others_stopped);

}  // namespace memtrace::preload

#include "analyzer/replay/syscall_counters.h"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

namespace memtrace::replay {
namespace {

using CallOwner::kAllocator, CallOwner::kProgram, CallOwner::kReplayer;
using CountedSyscall::kMmap, CountedSyscall::kMunmap, CountedSyscall::kMremap, CountedSyscall::kBrk;

// The filter cannot be removed, so each check runs in a child process; the child reports the first
// failed expectation as its exit status.
template <typename Body>
int InChild(Body body) {
  pid_t child = fork();
  if (child == 0) _exit(body());
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

void* MapAndUnmap(void*) {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  munmap(page, 4096);
  return nullptr;
}

TEST(SyscallCountersTest, CountsLibcWrappersAndRawSyscallsWithResultsIntact) {
  EXPECT_EQ(InChild([] {
              const char* error = nullptr;
              if (!StartSyscallCounting(&error)) return 1;
              void* a = mmap(nullptr, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
              if (a == MAP_FAILED) return 2;
              static_cast<char*>(a)[4096] = 1;  // the mapping is real
              // A raw syscall, as allocators that bypass libc make them.
              long b = syscall(SYS_mremap, a, 8192, 16384, MREMAP_MAYMOVE);
              if (b < 0 || reinterpret_cast<char*>(b)[4096] != 1) return 3;
              if (munmap(reinterpret_cast<void*>(b), 16384) != 0) return 4;
              // Errors come back as errors, errno set by the wrapper from the forwarded result.
              errno = 0;
              if (munmap(reinterpret_cast<void*>(1), 4096) != -1 || errno != EINVAL) return 5;
              void* start = sbrk(0);
              if (sbrk(4096) != start || sbrk(-4096) == reinterpret_cast<void*>(-1) || sbrk(0) != start)
                return 6;
              if (SyscallCount(kMmap, kAllocator) != 1 || SyscallCount(kMremap, kAllocator) != 1 ||
                  SyscallCount(kMunmap, kAllocator) != 2) {
                return 7;
              }
              // sbrk(0) makes no syscall once libc knows the break; +4096 and -4096 make one each, and
              // the first sbrk may read the break with brk(0).
              uint64_t brks = SyscallCount(kBrk, kAllocator);
              return brks == 2 || brks == 3 ? 0 : 8;
            }),
            0);
}

TEST(SyscallCountersTest, ChargesScopesAndCountsNewThreads) {
  EXPECT_EQ(InChild([] {
              const char* error = nullptr;
              if (!StartSyscallCounting(&error)) return 1;
              pthread_t thread;
              {
                CountedAs replayer(kReplayer);
                if (pthread_create(&thread, nullptr, MapAndUnmap, nullptr) != 0) return 2;
              }
              pthread_join(thread, nullptr);  // after the scope: charged to the allocator
              // The thread's own calls are the default owner's; its stack was the creator's scope's.
              if (SyscallCount(kMmap, kReplayer) < 1) return 3;
              if (SyscallCount(kMmap, kAllocator) != 1 || SyscallCount(kMunmap, kAllocator) != 1) return 4;
              {
                CountedAs program(kProgram);
                sbrk(4096);
              }
              return SyscallCount(kBrk, kProgram) >= 1 ? 0 : 5;
            }),
            0);
}

}  // namespace
}  // namespace memtrace::replay

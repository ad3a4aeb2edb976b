// memtrace's unwinder against libunwind's unw_backtrace on the same stacks, in this -O2 test binary
// (no frame pointers): deep recursion, alternating call paths of equal depth (the memo must notice
// the return addresses changed), a signal handler's stack (kernel signal frame, the interrupted PC
// exact), code without unwind info, and several threads at once.
#include "preload/cfi_unwinder.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

namespace memtrace::preload {
namespace {

using Backtrace = int (*)(void**, int);

Backtrace Libunwind() {
  static Backtrace backtrace = [] {
    void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    return library ? reinterpret_cast<Backtrace>(dlsym(library, "unw_backtrace")) : nullptr;
  }();
  return backtrace;
}

struct Stacks {
  std::vector<uint64_t> ours;
  std::vector<uint64_t> theirs;
};

// Both unwinds from this one function: frame 0 differs (two call sites), the rest must not.
[[gnu::noinline]] Stacks BothWays() {
  uint64_t ours[256];
  void* theirs[256];
  int our_count = CfiBacktrace(ours, 256);
  int their_count = Libunwind()(theirs, 256);
  Stacks stacks;
  for (int i = 1; i < our_count; ++i) stacks.ours.push_back(ours[i]);
  for (int i = 1; i < their_count; ++i) stacks.theirs.push_back(reinterpret_cast<uint64_t>(theirs[i]));
  asm volatile("" ::: "memory");  // not a tail call
  return stacks;
}

std::atomic<int> sink{0};

[[gnu::noinline]] Stacks Recurse(int depth);
[[gnu::noinline]] Stacks RecurseOther(int depth);

// Two functions of the same shape: stacks through either have the same depth and frame sizes, so
// the memo's states match and only the return addresses tell them apart.
[[gnu::noinline]] Stacks Recurse(int depth) {
  if (depth == 0) return BothWays();
  Stacks stacks = (depth % 3 == 0) ? RecurseOther(depth - 1) : Recurse(depth - 1);
  sink.fetch_add(1, std::memory_order_relaxed);
  return stacks;
}

[[gnu::noinline]] Stacks RecurseOther(int depth) {
  if (depth == 0) return BothWays();
  Stacks stacks = (depth % 3 == 1) ? Recurse(depth - 1) : RecurseOther(depth - 1);
  sink.fetch_add(2, std::memory_order_relaxed);
  return stacks;
}

TEST(CfiUnwinder, EqualsLibunwindThroughDeepRecursion) {
  ASSERT_NE(Libunwind(), nullptr);
  for (int depth : {0, 1, 5, 20, 60, 200}) {
    Stacks stacks = Recurse(depth);
    EXPECT_GE(stacks.ours.size(), static_cast<size_t>(depth < 250 ? depth : 250));
    EXPECT_EQ(stacks.ours, stacks.theirs) << "depth " << depth;
  }
}

TEST(CfiUnwinder, MemoNoticesChangedCallers) {
  // Alternate between paths of equal depth many times: each unwind joins the previous one's memo.
  for (int i = 0; i < 200; ++i) {
    Stacks a = Recurse(12);
    Stacks b = RecurseOther(12);
    ASSERT_EQ(a.ours, a.theirs) << i;
    ASSERT_EQ(b.ours, b.theirs) << i;
    ASSERT_NE(a.ours, b.ours);
  }
}

Stacks in_handler;

void OnSignal(int) { in_handler = BothWays(); }

[[gnu::noinline]] void RaiseAt(int depth) {
  if (depth == 0) {
    raise(SIGUSR1);
  } else {
    RaiseAt(depth - 1);
  }
  sink.fetch_add(1, std::memory_order_relaxed);
}

TEST(CfiUnwinder, EqualsLibunwindThroughASignalFrame) {
  struct sigaction action = {};
  action.sa_handler = OnSignal;
  ASSERT_EQ(sigaction(SIGUSR1, &action, nullptr), 0);
  for (int depth : {0, 3, 30}) {
    in_handler = {};
    RaiseAt(depth);
    EXPECT_GT(in_handler.ours.size(), static_cast<size_t>(depth + 3));  // past the signal frame
    EXPECT_EQ(in_handler.ours, in_handler.theirs) << "depth " << depth;
  }
  signal(SIGUSR1, SIG_DFL);
}

TEST(CfiUnwinder, EqualsLibunwindInManyThreads) {
  std::atomic<int> differences{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i) {
        Stacks stacks = (i + t) % 2 ? Recurse(i % 40) : RecurseOther(i % 40);
        if (stacks.ours != stacks.theirs) differences.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(differences.load(), 0);
}

// Code with no FDE (as a JIT would make): both unwinders guess a frame-pointer frame for it.
Stacks through_jit;

void FromJit() { through_jit = BothWays(); }

TEST(CfiUnwinder, EqualsLibunwindThroughCodeWithoutUnwindInfo) {
  // push %rbp; mov %rsp,%rbp; call *%rdi; pop %rbp; ret
  const unsigned char code[] = {0x55, 0x48, 0x89, 0xe5, 0xff, 0xd7, 0x5d, 0xc3};
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) GTEST_SKIP() << "no executable anonymous memory here";
  memcpy(page, code, sizeof code);
  auto trampoline = reinterpret_cast<void (*)(void (*)())>(page);
  for (int i = 0; i < 3; ++i) {
    through_jit = {};
    trampoline(FromJit);
    uint64_t jit = reinterpret_cast<uint64_t>(page);
    bool passes_jit = false;
    for (uint64_t pc : through_jit.ours) passes_jit |= pc > jit && pc < jit + sizeof code;
    EXPECT_TRUE(passes_jit);
    EXPECT_GT(through_jit.ours.size(), 4u);  // through the JIT frame to main and beyond
    EXPECT_EQ(through_jit.ours, through_jit.theirs);
  }
  munmap(page, 4096);
}

}  // namespace
}  // namespace memtrace::preload

// The break-move inference checked against the kernel: a forked child makes one real glibc call that
// may move the break twice, and the parent, tracing the child's brk syscalls with ptrace, sees every
// break the kernel set during that call. The inference, given only what a trace records about the call,
// must reproduce that sequence exactly (or say it is unsure; never a different sequence).
#include "analyzer/brk_inference.h"

#include <gtest/gtest.h>
#include <malloc.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <vector>

namespace memtrace::analyzer {
namespace {

// What the child reports about its call: the facts a trace records.
struct CallFacts {
  uint64_t before, after, address, old_address, requested, alignment, chunk_size, old_chunk_size, heap_floor;
};

// glibc's chunk header, the word before the block (format/record_codec.h).
uint64_t ChunkSizeOf(const void* block) {
  auto header = reinterpret_cast<const volatile uint64_t*>(reinterpret_cast<uintptr_t>(block) - 8);
  return *header & ~uint64_t{7};
}
uint64_t Break() { return reinterpret_cast<uint64_t>(sbrk(0)); }

// The calls under test, run in the child between two getppid() markers. Each shapes the heap first:
// the block to grow or the space to align in sits at the top of the heap, with the top chunk smaller
// than the request, so sysmalloc must grow it.
enum class Scenario { kReallocInPlace, kMemalign };

CallFacts RunInChild(Scenario scenario, uint64_t size, uint64_t extra, uint64_t alignment, int top_pad) {
  mallopt(M_MMAP_THRESHOLD, 64 << 20);  // keep every block in the sbrk heap
  if (top_pad >= 0) mallopt(M_TOP_PAD, top_pad);
  CallFacts facts{};
  if (scenario == Scenario::kReallocInPlace) {
    void* block = malloc(size);
    uint64_t top = mallinfo2().keepcost;  // the top chunk's size: the child may know, the trace does not
    facts.old_chunk_size = ChunkSizeOf(block);
    facts.old_address = reinterpret_cast<uint64_t>(block);
    facts.requested = facts.old_chunk_size + top + extra;
    facts.before = Break();
    syscall(SYS_getppid);
    void* grown = realloc(block, facts.requested);
    syscall(SYS_getppid);
    facts.after = Break();
    facts.address = reinterpret_cast<uint64_t>(grown);
    facts.chunk_size = ChunkSizeOf(grown);
  } else {
    uint64_t top = mallinfo2().keepcost;
    void* filler = top > size + 4096 ? malloc(top - size - 64) : nullptr;  // leaves about `size` of top
    asm volatile("" : : "r"(filler) : "memory");
    // What the analyzer knows from the live blocks: the filler, the highest one, ends here.
    if (filler) facts.heap_floor = reinterpret_cast<uint64_t>(filler) - 16 + ChunkSizeOf(filler);
    facts.requested = extra;
    facts.alignment = alignment;
    facts.before = Break();
    syscall(SYS_getppid);
    void* block = memalign(alignment, extra);
    syscall(SYS_getppid);
    facts.after = Break();
    facts.address = reinterpret_cast<uint64_t>(block);
    facts.chunk_size = ChunkSizeOf(block);
  }
  return facts;
}

struct Observed {
  CallFacts facts{};
  std::vector<uint64_t> breaks;  // the kernel's break after each brk syscall inside the call
  bool ok = false;
};

Observed TraceCall(Scenario scenario, uint64_t size, uint64_t extra, uint64_t alignment, int top_pad) {
  Observed observed;
  int fds[2];
  if (pipe(fds) != 0) return observed;
  pid_t child = fork();
  if (child == 0) {
    ptrace(PTRACE_TRACEME, 0, nullptr, nullptr);
    raise(SIGSTOP);
    CallFacts facts = RunInChild(scenario, size, extra, alignment, top_pad);
    ssize_t written = write(fds[1], &facts, sizeof facts);
    _exit(written == sizeof facts ? 0 : 1);
  }
  close(fds[1]);
  int status = 0;
  waitpid(child, &status, 0);
  ptrace(PTRACE_SETOPTIONS, child, nullptr, PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL);
  int markers = 0;
  bool in_syscall = false;
  while (true) {
    ptrace(PTRACE_SYSCALL, child, nullptr, nullptr);
    if (waitpid(child, &status, 0) != child || WIFEXITED(status) || WIFSIGNALED(status)) break;
    if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) continue;
    in_syscall = !in_syscall;
    if (in_syscall) continue;  // act on syscall exits
    user_regs_struct regs;
    ptrace(PTRACE_GETREGS, child, nullptr, &regs);
    if (regs.orig_rax == SYS_getppid) ++markers;
    if (regs.orig_rax == SYS_brk && markers == 1 && regs.rdi != 0) observed.breaks.push_back(regs.rax);
  }
  observed.ok = read(fds[0], &observed.facts, sizeof observed.facts) == sizeof observed.facts &&
                WIFEXITED(status) && WEXITSTATUS(status) == 0 && markers == 2;
  close(fds[0]);
  return observed;
}

// The kernel's breaks during the call, with the unchanged ones (refused requests) dropped.
std::vector<uint64_t> KernelMoves(const Observed& observed) {
  std::vector<uint64_t> moves;
  uint64_t last = observed.facts.before;
  for (uint64_t b : observed.breaks) {
    if (b != last) moves.push_back(b);
    last = b;
  }
  return moves;
}

std::vector<uint64_t> InferredMoves(const Observed& observed, const MallocTuning& tuning, Scenario scenario,
                                    BreakCertainty* certainty) {
  const CallFacts& f = observed.facts;
  BreakCall call;
  call.kind = scenario == Scenario::kReallocInPlace ? RecordKind::kRealloc : RecordKind::kMemalign;
  call.before = f.before;
  call.after = f.after;
  call.address = f.address;
  call.old_address = f.old_address;
  call.requested = f.requested;
  call.alignment = f.alignment;
  call.chunk_size = f.chunk_size;
  call.old_chunk_size = f.old_chunk_size;
  call.main_heap_chunk = true;
  call.heap_floor = f.heap_floor;
  BreakInference inference = InferBreakMoves(call, tuning);
  *certainty = inference.certainty;
  if (f.after == f.before) return {};
  if (inference.certainty == BreakCertainty::kInferred) return {inference.intermediate, f.after};
  return {f.after};
}

// Runs one call and checks the inference against the kernel; returns how many moves the kernel made.
size_t CheckAgainstKernel(Scenario scenario, uint64_t size, uint64_t extra, uint64_t alignment, int top_pad) {
  Observed observed = TraceCall(scenario, size, extra, alignment, top_pad);
  EXPECT_TRUE(observed.ok);
  if (!observed.ok) return 0;
  MallocTuning tuning;
  if (top_pad >= 0) tuning.ApplyEnvironment("MALLOC_TOP_PAD_=" + std::to_string(top_pad));
  BreakCertainty certainty;
  std::vector<uint64_t> kernel = KernelMoves(observed);
  std::vector<uint64_t> inferred = InferredMoves(observed, tuning, scenario, &certainty);
  SCOPED_TRACE(::testing::Message() << "size " << size << " extra " << extra << " alignment " << alignment
                                    << " top_pad " << top_pad << " before 0x" << std::hex
                                    << observed.facts.before << " after 0x" << observed.facts.after);
  if (certainty == BreakCertainty::kUncertain) {
    // Allowed only where the facts leave room: never for a realloc along the grow-and-trim path.
    EXPECT_NE(scenario, Scenario::kReallocInPlace);
    EXPECT_EQ(kernel.empty() ? 0 : kernel.back(), kernel.empty() ? 0 : observed.facts.after);
  } else {
    EXPECT_EQ(inferred, kernel);
  }
  return kernel.size();
}

TEST(BreakInference, InPlaceReallocMatchesTheKernel) {
  size_t doubles = 0;
  for (uint64_t size : {70000u, 200000u, 1000000u}) {
    for (uint64_t extra : {16u, 5000u, 40000u, 300000u}) {
      doubles += CheckAgainstKernel(Scenario::kReallocInPlace, size, extra, 0, -1) == 2;
    }
  }
  EXPECT_GT(doubles, 0u) << "no call moved the break twice: the scenario does not exercise the inference";
}

TEST(BreakInference, InPlaceReallocWithTopPadMatchesTheKernel) {
  size_t doubles = 0;
  for (int pad : {0, 4096, 300000}) {
    for (uint64_t extra : {16u, 40000u})
      doubles += CheckAgainstKernel(Scenario::kReallocInPlace, 200000, extra, 0, pad) == 2;
  }
  EXPECT_GT(doubles, 0u);
}

TEST(BreakInference, MemalignMatchesTheKernel) {
  size_t doubles = 0;
  for (uint64_t alignment : {4096u, 65536u}) {
    for (uint64_t leave : {0u, 1000u, 3000u}) {
      for (uint64_t bytes : {100u, 20000u}) {
        doubles += CheckAgainstKernel(Scenario::kMemalign, leave, bytes, alignment, -1) == 2;
      }
    }
  }
  EXPECT_GT(doubles, 0u);
}

TEST(MallocTuning, FollowsEnvironmentAndMallopt) {
  MallocTuning tuning;
  EXPECT_EQ(tuning.top_pad(), MallocTuning::kDefaultTopPad);
  tuning.ApplyEnvironment("MALLOC_TOP_PAD_=4096");
  EXPECT_EQ(tuning.top_pad(), 4096u);
  tuning.ApplyEnvironment("GLIBC_TUNABLES=glibc.malloc.trim_threshold=1:glibc.malloc.top_pad=0x2000");
  EXPECT_EQ(tuning.top_pad(), 0x2000u);
  EXPECT_TRUE(tuning.modelled());
  tuning.ApplyEnvironment("GLIBC_TUNABLES=glibc.malloc.hugetlb=1");
  EXPECT_FALSE(tuning.modelled());

  MallocTuning bad;
  bad.ApplyEnvironment("MALLOC_TOP_PAD_=12k");
  EXPECT_FALSE(bad.modelled());
}

}  // namespace
}  // namespace memtrace::analyzer

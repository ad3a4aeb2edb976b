#include "preload/cfi_unwinder.h"

#include <sys/syscall.h>

#include "preload/cfi_rule.h"
#include "preload/eh_frame_index.h"
#include "preload/frame_rule_cache.h"

namespace memtrace::preload {

namespace {

constexpr uint64_t kPage = 4096;

// Offsets in the kernel's x86-64 ucontext (uapi asm/ucontext.h, asm/sigcontext.h): uc_flags, uc_link
// and uc_stack (24 bytes) precede uc_mcontext, whose general registers are r8..r15, rdi, rsi, rbp,
// rbx, rdx, rax, rcx, rsp, rip. On return into __restore_rt the stack pointer is at the ucontext.
constexpr uint64_t kMcontext = 40;
constexpr uint64_t kUcontextRbp = kMcontext + 10 * 8;
constexpr uint64_t kUcontextRsp = kMcontext + 15 * 8;
constexpr uint64_t kUcontextRip = kMcontext + 16 * 8;

// libunwind's limit for its frame-pointer guess: the saved RBP lies above the stack pointer, and not
// by more than this.
constexpr uint64_t kGuessedFrameMax = 0x4000;

struct ValidatedRange {
  uint64_t low;
  uint64_t high;
};
__thread ValidatedRange validated __attribute__((tls_model("initial-exec")));

// True if the 8 bytes at `page` can be read: see the header. A raw system call, so errno is untouched.
bool PageReadable(uint64_t page) {
  long result;
  register long set_size asm("r10") = 8;
  asm volatile("syscall"
               : "=a"(result)
               : "0"(static_cast<long>(SYS_rt_sigprocmask)), "D"(-1L), "S"(page), "d"(0L), "r"(set_size)
               : "rcx", "r11", "memory");
  return result != -14;  // -EFAULT
}

[[gnu::noinline]] bool ReadWordSlow(uint64_t address, uint64_t* value) {
  if (address < kPage || address > (uint64_t{1} << 47) - 8) return false;
  uint64_t first = address & ~(kPage - 1);
  uint64_t last = (address + 7) & ~(kPage - 1);
  if (!PageReadable(first) || (last != first && !PageReadable(last))) return false;
  ValidatedRange& range = validated;
  if (range.low == range.high) {
    range = {first, last + kPage};
  } else if (first <= range.high && last + kPage >= range.low) {  // touches or overlaps: extend
    if (first < range.low) range.low = first;
    if (last + kPage > range.high) range.high = last + kPage;
  } else {
    range = {first, last + kPage};
  }
  *value = *reinterpret_cast<const uint64_t*>(address);
  return true;
}

FrameRule ComputeRule(uint64_t pc) {
  FrameRule none;
  FdeLocation location;
  if (FindFde(pc, &location) != FdeSearch::kFound) return none;
  FdeView fde;
  if (!ParseFde(location.fde, location.limit, &fde) || pc < fde.pc_begin || pc >= fde.pc_end) return none;
  return ComputeFrameRule(fde, pc, location.limit);
}

inline FrameRule RuleFor(uint64_t pc, uint32_t epoch) {
  uint64_t key = RuleCacheKey(pc, epoch);
  if (uint64_t packed = LookUpRule(key)) return UnpackRule(packed);
  FrameRule rule = ComputeRule(pc);
  StoreRule(key, PackRule(rule));
  return rule;
}

}  // namespace

bool ReadWord(uint64_t address, uint64_t* value) {
  const ValidatedRange& range = validated;
  if (address >= range.low && address + 8 <= range.high) {
    *value = *reinterpret_cast<const uint64_t*>(address);
    return true;
  }
  return ReadWordSlow(address, value);
}

int CfiUnwindFrom(uint64_t pc, uint64_t rsp, uint64_t rbp, bool pc_is_exact, uint64_t* frames, int max) {
  if (max <= 0) return 0;
  ValidatedRange& range = validated;
  if (rsp < range.low || rsp >= range.high) range = {0, 0};
  uint32_t epoch = ModuleIndexEpoch();
  uint64_t back = pc_is_exact ? 0 : 1;  // look return addresses up at the call instruction
  int count = 0;
  frames[count++] = pc;
  while (count < max) {
    FrameRule rule = RuleFor(pc - back, epoch);
    switch (rule.kind) {
      case FrameKind::kCfaRsp:
      case FrameKind::kCfaRbp: {
        uint64_t cfa = (rule.kind == FrameKind::kCfaRsp ? rsp : rbp) + static_cast<int64_t>(rule.cfa_offset);
        if (!ReadWord(cfa + 8 * static_cast<int64_t>(rule.ra_slot), &pc)) return count;
        if (rule.rbp_slot && !ReadWord(cfa + 8 * static_cast<int64_t>(rule.rbp_slot), &rbp)) return count;
        rsp = cfa;
        back = 1;
        break;
      }
      case FrameKind::kSignal: {
        uint64_t context = rsp;
        if (!ReadWord(context + kUcontextRip, &pc) || !ReadWord(context + kUcontextRbp, &rbp) ||
            !ReadWord(context + kUcontextRsp, &rsp)) {
          return count;
        }
        back = 0;  // the interrupted instruction itself, not a return address
        break;
      }
      case FrameKind::kNone: {
        // No CFI (JIT code, stripped stubs): libunwind guesses a frame-pointer frame if RBP looks
        // like one and the PC is readable code. Do the same, so both record the same frames.
        if (rbp == 0 || rbp < rsp || rbp - rsp > kGuessedFrameMax || !PageReadable(pc & ~(kPage - 1))) {
          return count;
        }
        uint64_t saved_rbp;
        if (!ReadWord(rbp + 8, &pc) || !ReadWord(rbp, &saved_rbp)) return count;
        rsp = rbp + 16;
        rbp = saved_rbp;
        back = 1;
        break;
      }
      case FrameKind::kOutermost:
      case FrameKind::kUnsupported: return count;
    }
    if (pc < 0x4000) return count;
    frames[count++] = pc;
  }
  return count;
}

[[gnu::noinline]] int CfiBacktrace(uint64_t* frames, int max) {
  // This function keeps a frame pointer (the library is built -fno-omit-frame-pointer): the caller's
  // state is the saved RBP at [fp], the return address at [fp + 8], its stack pointer fp + 16.
  const auto* fp = static_cast<const uint64_t*>(__builtin_frame_address(0));
  return CfiUnwindFrom(fp[1], reinterpret_cast<uint64_t>(fp + 2), fp[0], false, frames, max);
}

}  // namespace memtrace::preload

#include "preload/cfi_unwinder.h"

#include <sys/syscall.h>

#include <cstring>

#include "preload/cfi_rule.h"
#include "preload/checked_read.h"
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

FrameRule ComputeRule(uint64_t pc) {
  FrameRule none;
  FdeLocation location;
  if (FindFde(pc, &location) != FdeSearch::kFound) return none;
  FdeView fde;
  if (!ParseFde(location.fde, location.limit, &fde) || pc < fde.pc_begin || pc >= fde.pc_end) return none;
  return ComputeFrameRule(fde, pc, location.limit);
}

// The cache miss: parse, remember. Out of line so the hit path stays small.
[[gnu::noinline]] uint64_t RuleMiss(uint64_t pc, uint64_t key) {
  uint64_t packed = PackRule(ComputeRule(pc));
  StoreRule(key, packed);
  return packed;
}

// Packed-rule fields (the layout is in cfi_rule.h), read without unpacking into a FrameRule.
inline FrameKind KindOf(uint64_t packed) { return static_cast<FrameKind>(packed & 0xff); }
inline int64_t RaSlotOf(uint64_t packed) { return static_cast<int8_t>(packed >> 8); }
inline int64_t RbpSlotOf(uint64_t packed) { return static_cast<int8_t>(packed >> 16); }
inline int64_t CfaOffsetOf(uint64_t packed) { return static_cast<int32_t>(packed >> 32); }

}  // namespace

namespace {

struct Loaded {
  bool ok;
  uint64_t value;
};

// The slow path of a checked read, returning in registers so that the loop's state never has its
// address taken (which would keep it in memory).
[[gnu::noinline]] Loaded LoadSlow(uint64_t address, uint64_t anchor) {
  Loaded loaded{false, 0};
  loaded.ok = ReadWordSlow(address, &loaded.value, anchor);
  return loaded;
}

// The memo: the states an unwind passed through (PC, RSP, RBP) with the rule it stepped each one
// by, ordered by RSP. The next unwind that reaches one of these states replays the steps after it,
// checking only that each word they read (the return address, the saved RBP) still holds the same
// value: the same state, rules and memory give the same frames, at a load and a compare per frame
// instead of a rule lookup. One memo per thread, initial-exec TLS (5 KiB).
constexpr uint32_t kMemoFrames = 128;
constexpr uint32_t kFreshFrames = 32;  // entries made before joining the memo: more, and the chain ends

struct MemoFrame {
  uint64_t pc;  // the state
  uint64_t rsp;
  uint64_t rbp;
  uint64_t ra_at;   // where the step from this state read the return address (0: the chain's end)
  uint64_t rbp_at;  // where it read the caller's RBP (0: RBP unchanged)
};

struct Memo {
  uint32_t count;
  uint32_t epoch;  // ModuleIndexEpoch() when written: rules of another epoch may be stale
  MemoFrame frames[kMemoFrames];
};

__thread Memo the_memo __attribute__((tls_model("initial-exec")));

struct Replayed {
  uint32_t entry;  // the memo entry of the state reached
  int count;       // frames recorded
};

// Replays memo entries [k, end) from the state of entry k, while the words each step read still hold
// the values the memo says, appending each state's PC to `frames`. A function of its own so that its
// loop keeps everything in registers.
[[gnu::noinline]] Replayed Replay(const MemoFrame* entries, uint32_t k, uint32_t end, uint64_t low,
                                  uint64_t size, uint64_t* frames, int count, int max) {
  if (static_cast<int64_t>(end - k) > max - count + 1) end = k + static_cast<uint32_t>(max - count + 1);
  const MemoFrame* e = entries + k;
  const MemoFrame* last = entries + end - 1;
  uint64_t* out = frames + count;
  for (; e < last; ++e) {
    const MemoFrame* next = e + 1;
    if (e->ra_at - low >= size || *reinterpret_cast<const uint64_t*>(e->ra_at) != next->pc) break;
    if (e->rbp_at) {
      if (e->rbp_at - low >= size || *reinterpret_cast<const uint64_t*>(e->rbp_at) != next->rbp) break;
    } else if (next->rbp != e->rbp) {
      break;
    }
    *out++ = next->pc;
  }
  return {static_cast<uint32_t>(e - entries), static_cast<int>(out - frames)};
}

// [fp_code_begin, fp_code_end): code built with frame pointers whose frames open every stack (the
// preload's hooks): walked through the RBP chain, without a rule lookup.
uint64_t fp_code_begin = 0;
uint64_t fp_code_end = 0;

}  // namespace

void SetFramePointerCode(uint64_t begin, uint64_t end) {
  fp_code_begin = begin;
  fp_code_end = end;
}

int CfiUnwindFrom(uint64_t pc, uint64_t rsp, uint64_t rbp, bool pc_is_exact, uint64_t* frames, int max) {
  if (max <= 0) return 0;
  // The validated range, as `low` and `size` (address - low < size: the 8 bytes at address are
  // inside; size 0 when empty) in registers for the loop. The slow path updates the TLS copy.
  ValidatedRange& range = validated_range;
  const uint64_t anchor = rsp;
  if (rsp < range.low || rsp >= range.high) range = {0, 0};
  uint64_t low = 0, size = 0;
  auto reload = [&] {
    low = range.low;
    size = range.high - range.low >= 8 ? range.high - range.low - 7 : 0;
  };
  reload();
  // Reads the word at `address` into `to`, or runs `fail` if it is unreadable.
#define MEMTRACE_LOAD(to, address, fail)           \
  do {                                             \
    uint64_t at = (address);                       \
    if (at - low < size) [[likely]] {              \
      to = *reinterpret_cast<const uint64_t*>(at); \
    } else {                                       \
      Loaded loaded = LoadSlow(at, anchor);        \
      if (!loaded.ok) fail;                        \
      to = loaded.value;                           \
      reload();                                    \
    }                                              \
  } while (0)

  int count = 0;
  frames[count++] = pc;
  uint64_t back = pc_is_exact ? 0 : 1;  // look return addresses up at the call instruction
  // The frame-pointer prefix.
  while (!pc_is_exact && pc - fp_code_begin < fp_code_end - fp_code_begin && count < max) {
    uint64_t saved_rbp;
    MEMTRACE_LOAD(pc, rbp + 8, return count);
    MEMTRACE_LOAD(saved_rbp, rbp, return count);
    rsp = rbp + 16;
    rbp = saved_rbp;
    if (pc < 0x4000) return count;
    frames[count++] = pc;
  }

  const uint32_t epoch_number = ModuleIndexEpoch();
  const uint64_t epoch = static_cast<uint64_t>(epoch_number) << 48;
  const RuleSlot* table = RuleTable();
  // The memo is read while it is rewritten: entries of this unwind go to `fresh` (on the stack) until
  // it joins the memo's chain; then the memo's suffix from the join is moved behind them and the
  // replay validates it in place; entries after the replay overwrite the memo from there on.
  Memo& memo = the_memo;
  uint32_t old_count = memo.epoch == epoch_number ? memo.count : 0;
  MemoFrame fresh[kFreshFrames];
  uint32_t fresh_count = 0;
  bool joined = false;
  uint32_t j = 0;       // before the join: the first memo entry whose rsp is >= the current rsp
  uint32_t w = 0;       // after the join: the memo index of the current state's entry
  bool chain = true;    // every step so far was an ordinary one (the memo records only those)
  bool settled = true;  // (pc, rsp, rbp) is the state of frames[count - 1], fully read
  auto record = [&](const MemoFrame& entry) {
    if (!chain) return;
    if (!joined && fresh_count < kFreshFrames) {
      fresh[fresh_count++] = entry;
    } else if (joined && w < kMemoFrames) {
      memo.frames[w++] = entry;
    } else {
      chain = false;
    }
  };
  while (count < max) {
    if (!joined && chain && back == 1) {
      // Join the previous unwind where it passed through this very state, and replay its steps
      // for as long as the memory they read still holds what it held then.
      while (j < old_count && memo.frames[j].rsp < rsp) ++j;
      if (j < old_count && memo.frames[j].rsp == rsp && memo.frames[j].pc == pc &&
          memo.frames[j].rbp == rbp) {
        joined = true;
        uint32_t keep = old_count - j;
        if (keep > kMemoFrames - fresh_count) keep = kMemoFrames - fresh_count;
        if (fresh_count != j) memmove(&memo.frames[fresh_count], &memo.frames[j], keep * sizeof(MemoFrame));
        memcpy(memo.frames, fresh, fresh_count * sizeof(MemoFrame));
        Replayed replayed =
            Replay(memo.frames, fresh_count, fresh_count + keep, low, size, frames, count, max);
        uint32_t k = replayed.entry;
        count = replayed.count;
        pc = memo.frames[k].pc, rsp = memo.frames[k].rsp, rbp = memo.frames[k].rbp;
        w = k;  // entry k is the current state: the next step (or the end) records it again, in place
        if (count >= max) break;
      }
    }
    uint64_t lookup = pc - back;
    uint64_t key = lookup | epoch;
    uint64_t packed = ProbeRule(table, key);
    if (!packed) [[unlikely]] {
      packed = RuleMiss(lookup, key);
    }
    FrameKind kind = KindOf(packed);
    if (kind == FrameKind::kCfaRsp || kind == FrameKind::kCfaRbp) [[likely]] {
      // Only a chain of ordinary steps is memoized: entry i + 1 is always the state entry i led to.
      if (back != 1) chain = false;
      settled = false;
      uint64_t cfa = (kind == FrameKind::kCfaRsp ? rsp : rbp) + CfaOffsetOf(packed);
      uint64_t ra_at = cfa + 8 * RaSlotOf(packed);
      uint64_t rbp_at = 0;
      MemoFrame entry{pc, rsp, rbp, ra_at, 0};
      MEMTRACE_LOAD(pc, ra_at, goto done);
      if (int64_t slot = RbpSlotOf(packed)) {
        rbp_at = cfa + 8 * slot;
        MEMTRACE_LOAD(rbp, rbp_at, goto done);
      }
      entry.rbp_at = rbp_at;
      record(entry);
      rsp = cfa;
      back = 1;
    } else if (kind == FrameKind::kSignal) {
      chain = false;
      settled = false;
      uint64_t context = rsp;
      MEMTRACE_LOAD(pc, context + kUcontextRip, goto done);
      MEMTRACE_LOAD(rbp, context + kUcontextRbp, goto done);
      MEMTRACE_LOAD(rsp, context + kUcontextRsp, goto done);
      back = 0;  // the interrupted instruction itself, not a return address
    } else if (kind == FrameKind::kNone) {
      // No CFI (JIT code, stripped stubs): libunwind guesses a frame-pointer frame if RBP looks
      // like one and the PC is readable code. Do the same, so both record the same frames.
      if (rbp == 0 || rbp < rsp || rbp - rsp > kGuessedFrameMax || !PageReadable(pc & ~(kPage - 1))) {
        break;
      }
      chain = false;
      settled = false;
      uint64_t saved_rbp;
      MEMTRACE_LOAD(pc, rbp + 8, goto done);
      MEMTRACE_LOAD(saved_rbp, rbp, goto done);
      rsp = rbp + 16;
      rbp = saved_rbp;
      back = 1;
    } else {
      break;  // kOutermost, kUnsupported
    }
    if (pc < 0x4000) break;
    frames[count++] = pc;
    settled = true;
  }
done:
  // The last state reached closes the chain (the replay matches on it), with no step of its own:
  // ra_at 0 marks it. Entries after a broken chain were never written.
  if (settled && back == 1) record({pc, rsp, rbp, 0, 0});
  if (!joined) {
    memcpy(memo.frames, fresh, fresh_count * sizeof(MemoFrame));
    w = fresh_count;
  }
  memo.count = w;
  memo.epoch = epoch_number;
  return count;
#undef MEMTRACE_LOAD
}

[[gnu::noinline]] int CfiBacktrace(uint64_t* frames, int max) {
  // This function keeps a frame pointer (the library is built -fno-omit-frame-pointer): the caller's
  // state is the saved RBP at [fp], the return address at [fp + 8], its stack pointer fp + 16.
  const auto* fp = static_cast<const uint64_t*>(__builtin_frame_address(0));
  return CfiUnwindFrom(fp[1], reinterpret_cast<uint64_t>(fp + 2), fp[0], false, frames, max);
}

}  // namespace memtrace::preload

// memtrace's own x86-64 unwinder: .eh_frame CFI through the cached FrameRules of frame_rule_cache.h,
// the kernel's ucontext for signal frames, and libunwind's frame-pointer guess where no FDE covers a
// PC. It records what libunwind's unw_backtrace records (raw return addresses; the interrupted PC
// after a signal frame), and stops where that stops: an undefined return address, a return address
// below 0x4000, CFI it cannot follow.
//
// Memory safety: CFI and the hdr tables are read within the module segment that holds them. Every
// other read (stack slots, the ucontext, frame-pointer chains) is checked (checked_read.h).
//
// The memo (see cfi_unwinder.cc): each thread remembers the states its last unwind passed through; an
// unwind reaching one of them replays the rest with one load and compare per frame. Per-thread TLS
// of 5 KiB.
//
// Concurrency contract: the validated range is initial-exec TLS, owned by its thread; everything
// shared is in eh_frame_index.h and frame_rule_cache.h (lock-free). Async-signal-safe apart from the
// rebuild of the module index (dl_iterate_phdr), which hooks never reach from a signal handler.
#pragma once

#include <cstdint>

namespace memtrace::preload {

// Fills `frames` with up to `max` return addresses, the first being the one into this function's
// caller. Returns the count.
int CfiBacktrace(uint64_t* frames, int max);

// Unwinds from an arbitrary register state: `pc` is a return address (looked up at pc - 1) unless
// `pc_is_exact` (an interrupted PC, looked up as is). `pc` is frames[0].
int CfiUnwindFrom(uint64_t pc, uint64_t rsp, uint64_t rbp, bool pc_is_exact, uint64_t* frames, int max);

// Declares [begin, end) code built with frame pointers (the preload's own hooks): frames at the top
// of a stack whose PC is in it are walked through the RBP chain without a rule lookup. Set once at
// start-up, before any unwind.
void SetFramePointerCode(uint64_t begin, uint64_t end);

}  // namespace memtrace::preload

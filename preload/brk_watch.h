// Catches program-break moves made inside glibc. malloc grows and trims the main heap through libc's
// internal __sbrk, which no wrapper can see, but libc keeps the current break in the exported
// __curbrk. Reading it after every hooked call finds every move and the call that caused it.
//
// Concurrency contract: `known_break` is the last break any thread reported. A thread that sees a
// different value claims the move with a compare-and-swap, so a move is reported once even when two
// threads observe it; under such a race the move is attributed to the claiming thread's call.
#pragma once

#include <atomic>
#include <cstdint>

#include "format/record_codec.h"

extern "C" void* __curbrk;  // glibc: the break as libc last set it (null before libc's first sbrk)

namespace memtrace::preload {

extern std::atomic<uint64_t> known_break;

inline uint64_t CurrentBreak() { return reinterpret_cast<uint64_t>(__curbrk); }

// True if the break moved since the last move reported (the fast path's test: such a call needs a Record).
inline bool BreakMoved() {
  uint64_t now = CurrentBreak();
  return now != 0 && now != known_break.load(std::memory_order_relaxed);
}

// Marks `record` with the break move that happened since the last one reported, if any.
inline void NoteBreakMove(format::Record& record) {
  uint64_t now = CurrentBreak();
  uint64_t known = known_break.load(std::memory_order_relaxed);
  if (now == 0 || now == known) return;
  if (known_break.compare_exchange_strong(known, now, std::memory_order_relaxed)) {
    record.flags |= format::kFlagBrkMoved;
    record.brk_before = known;
    record.brk_after = now;
  }
}

}  // namespace memtrace::preload

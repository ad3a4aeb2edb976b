// Timestamps in CLOCK_MONOTONIC nanoseconds, read from the CPU's time-stamp counter.
//
// clock_gettime costs ~20 ns in this kind of VM, twice per malloc/free pair: a third of the hot path.
// When the kernel's own clocksource is the TSC (so it is constant-rate and synchronized across CPUs),
// each thread converts counter values with an anchor of its own, a clock_gettime reading and the
// counter read beside it, and the process-wide rate measured between the first anchor and the newest.
// A thread takes a new anchor once the counter moved a window past its anchor; the window is a
// sixteenth of the span the rate was measured over (at most kMaxWindowTicks), so extrapolation adds at
// most a sixteenth of one anchor's read jitter. Otherwise every read is a clock_gettime.
//
// Ordering: the counter is read with rdtscp, which waits until every earlier instruction of the thread
// has executed and its loads are globally visible. So a stamp taken after the thread saw a block
// another thread released is later than that release's stamp, as with clock_gettime (whose vDSO
// orders its rdtsc the same way).
//
// Concurrency contract: the anchor lives in the thread's own ThreadState; a signal handler that stamps
// while its thread re-anchors sees a zero window and takes an anchor of its own, and both write
// consistent pairs. The process-wide rate is one relaxed atomic word.
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>

#include "preload/thread_state.h"

namespace memtrace::preload {

uint64_t ClockGettimeNanoseconds();

namespace internal {
inline constexpr uint64_t kMaxWindowTicks = uint64_t{1} << 22;  // ~1.5 ms at 3 GHz
// Nanoseconds per tick as a 32.32 fixed-point number; 0 until measured (or if the TSC is not usable).
extern std::atomic<uint64_t> clock_rate;
uint64_t Reanchor(ThreadState& thread);
}  // namespace internal

// Decides whether the TSC can be used (the kernel's clocksource is "tsc") and takes the first anchor.
// Called once while the tracer initializes; before that every read is a clock_gettime.
void InitializeClock();

inline uint64_t NowNanoseconds() {
  ThreadState& thread = thread_state;
  unsigned cpu;
  uint64_t elapsed = __rdtscp(&cpu) - thread.clock_anchor_ticks;  // wraps if the counter is behind
  if (elapsed < thread.clock_window) [[likely]] {
    return thread.clock_anchor_ns + ((elapsed * internal::clock_rate.load(std::memory_order_relaxed)) >> 32);
  }
  return internal::Reanchor(thread);
}

}  // namespace memtrace::preload

// Timestamps in CLOCK_MONOTONIC nanoseconds, read from the CPU's time-stamp counter.
//
// clock_gettime costs ~22 ns in this kind of VM, twice per malloc/free pair. When the kernel's own
// clocksource is the TSC (so it is constant-rate and synchronized across CPUs), a stamp is the counter
// (rdtscp: ~17 ns) through one process-wide mapping, ns = anchor_ns + (ticks - anchor_ticks) * rate.
// One mapping for every thread keeps stamps a single increasing function of the counter, so two
// threads' stamps order as their counter reads do (per-thread anchors did not: each carried its own
// read jitter, enough to put a free in one thread after the malloc that reused its block in another).
//
// The mapping is valid for a window of ticks past its anchor. The first stamp past it replaces the
// mapping with one anchored where the old one ends (so the function stays continuous) whose rate is
// the rate measured since start-up, nudged (by at most 1e-3) to meet clock_gettime's reading by the window's
// end, so that the stamps follow the kernel clock without ever stepping; only if they drifted more than 100
// us apart (a suspended VM) does the mapping jump to the kernel's value.
//
// Ordering: rdtscp waits until every earlier instruction of the thread has executed and its loads are
// globally visible, so a stamp taken after seeing another thread's store is not earlier than the
// stamp that thread took before the store. Only threads need that: a single-threaded process orders
// its records by their place in its one stream. Until a second thread exists, then, the counter is
// read with plain rdtsc (~9 ns less than rdtscp's ~27 in a malloc/free loop on this kind of VM), and
// a stamp has a resolution of kSingleThreadQuantum ns: the nanoseconds below it are jitter that cost a
// third of a packed trace's bytes (churn: 3.3 -> 2.4 bytes per call; cxx_map 15 -> 9.7 MB). Such
// stamps still never repeat (each is at least the previous one + 1: readers place a vfork child's
// records among its parent's by them) and never run ahead of the clock, so they stay below every
// later thread's. OrderStampsAcrossThreads switches every thread to rdtscp and full resolution for
// good; it runs before pthread_create and when any thread but the main one takes its first chunk (a
// thread cloned without pthread_create: its first stamp, and the main thread's until it sees the
// switch, may still be unordered). A vfork child shares the last stamp with its parent (the memory is
// the parent's), so its stamps continue the parent's sequence.
//
// Concurrency contract: the mapping lives in two slots; a version counter says which is current
// (readers retry if it changed under them, as with a seqlock). One thread at a time, the one that wins a
// flag, writes the other slot and then bumps the version; the others extrapolate from the current
// slot meanwhile. A signal handler stamping while its thread writes sees the old slot, still valid.
#pragma once

#include <x86intrin.h>

#include <atomic>
#include <cstdint>

namespace memtrace::preload {

uint64_t ClockGettimeNanoseconds();

namespace internal {

struct ClockMapping {
  uint64_t anchor_ticks;
  uint64_t anchor_ns;
  uint64_t rate;    // nanoseconds per tick, 32.32 fixed point
  uint64_t window;  // ticks past the anchor the mapping is used for (0: not set up)
};
extern ClockMapping clock_mappings[2];
extern std::atomic<uint32_t> clock_version;
extern std::atomic<bool> stamps_ordered;
extern std::atomic<uint64_t> last_single_thread_stamp;

inline constexpr uint64_t kSingleThreadQuantum = 1024;

// `ns` rounded down to the quantum, and past the stamp before it.
inline uint64_t SingleThreadStamp(uint64_t ns) {
  uint64_t last = last_single_thread_stamp.load(std::memory_order_relaxed);
  uint64_t stamp = ns & ~(kSingleThreadQuantum - 1);
  if (stamp <= last) stamp = last + 1;
  last_single_thread_stamp.store(stamp, std::memory_order_relaxed);
  return stamp;
}

uint64_t NowSlowly(uint64_t ticks);

}  // namespace internal

// Decides whether the TSC can be used (the kernel's clocksource is "tsc") and sets up the first
// mapping. Called once while the tracer initializes; before that every read is a clock_gettime.
void InitializeClock();

// From now on every stamp waits for the thread's earlier loads (see "Ordering" above).
inline void OrderStampsAcrossThreads() {
  if (!internal::stamps_ordered.load(std::memory_order_relaxed))
    internal::stamps_ordered.store(true, std::memory_order_relaxed);
}

inline uint64_t NowNanoseconds() {
  const bool ordered = internal::stamps_ordered.load(std::memory_order_relaxed);
  uint64_t ticks;
  if (ordered) {
    unsigned cpu;
    ticks = __rdtscp(&cpu);
  } else {
    ticks = __rdtsc();
  }
  uint32_t version = internal::clock_version.load(std::memory_order_acquire);
  const internal::ClockMapping& mapping = internal::clock_mappings[version & 1];
  uint64_t elapsed = ticks - mapping.anchor_ticks;  // wraps if the counter is behind the anchor
  uint64_t ns = mapping.anchor_ns + ((elapsed * mapping.rate) >> 32);
  bool fresh = elapsed < mapping.window;
  std::atomic_thread_fence(std::memory_order_acquire);
  if (!fresh || internal::clock_version.load(std::memory_order_relaxed) != version) [[unlikely]]
    ns = internal::NowSlowly(ticks);
  return ordered ? ns : internal::SingleThreadStamp(ns);
}

}  // namespace memtrace::preload

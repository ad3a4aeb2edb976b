#include "preload/tsc_clock.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

namespace memtrace::preload {

namespace internal {
std::atomic<uint64_t> clock_rate{0};
}  // namespace internal

namespace {

bool tsc_usable = false;
// The first anchor: the rate is measured from here. Written once by InitializeClock.
uint64_t first_anchor_ticks = 0;
uint64_t first_anchor_ns = 0;

bool KernelClocksourceIsTsc() {
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char name[16] = {};
  ssize_t n = read(fd, name, sizeof name - 1);
  close(fd);
  return n == 4 && memcmp(name, "tsc\n", 4) == 0;
}

uint64_t ReadTicks() {
  unsigned cpu;
  return __rdtscp(&cpu);
}

}  // namespace

uint64_t ClockGettimeNanoseconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void InitializeClock() {
  if (!KernelClocksourceIsTsc()) return;
  first_anchor_ns = ClockGettimeNanoseconds();
  first_anchor_ticks = ReadTicks();
  tsc_usable = true;
}

uint64_t internal::Reanchor(ThreadState& thread) {
  uint64_t ns = ClockGettimeNanoseconds();
  if (!tsc_usable) return ns;
  uint64_t ticks = ReadTicks();
  thread.clock_window = 0;  // a handler stamping from here on takes an anchor of its own
  uint64_t span = ticks - first_anchor_ticks;
  uint64_t window = 0;
  if (ticks > first_anchor_ticks && ns > first_anchor_ns && span >= 16) {
    double rate = static_cast<double>(ns - first_anchor_ns) / static_cast<double>(span);
    // Sane rates only (0.1 to 10 ns per tick): a counter that jumped is not extrapolated from.
    if (rate > 0.1 && rate < 10.0) {
      clock_rate.store(static_cast<uint64_t>(rate * 4294967296.0), std::memory_order_relaxed);
      window = span / 16 < kMaxWindowTicks ? span / 16 : kMaxWindowTicks;
    }
  }
  thread.clock_anchor_ns = ns;
  thread.clock_anchor_ticks = ticks;
  thread.clock_window = window;
  return ns;
}

}  // namespace memtrace::preload

#include "preload/tsc_clock.h"

#include <fcntl.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

namespace memtrace::preload {

namespace internal {
ClockMapping clock_mappings[2];
std::atomic<uint32_t> clock_version{0};
std::atomic<bool> stamps_ordered{false};
std::atomic<uint64_t> last_single_thread_stamp{0};
}  // namespace internal

namespace {

using internal::clock_mappings;
using internal::clock_version;
using internal::ClockMapping;

constexpr uint64_t kMaxWindowTicks = uint64_t{1} << 25;  // ~10 ms at 3 GHz
constexpr uint64_t kMaxAnchorReadTicks = 2000;           // a preempted anchor read is retried
constexpr double kMaxNudge = 1e-3;                       // of the rate, toward the kernel clock
constexpr uint64_t kMaxDriftNs = 100'000;                // beyond it the mapping jumps

bool tsc_usable = false;
// Where the rate is measured from. Written once by InitializeClock.
uint64_t first_ticks = 0;
uint64_t first_ns = 0;
std::atomic<bool> updating{false};

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

// A clock_gettime reading and the counter at that moment (the middle of two reads around it); false if
// the thread was held up between them every time.
bool ReadPair(uint64_t* ticks, uint64_t* ns) {
  for (int tries = 0; tries < 4; ++tries) {
    uint64_t before = ReadTicks();
    *ns = ClockGettimeNanoseconds();
    uint64_t after = ReadTicks();
    if (after - before < kMaxAnchorReadTicks) {
      *ticks = before + (after - before) / 2;
      return true;
    }
  }
  return false;
}

// The mapping's value at `ticks`, which may lie before its anchor (a counter read just before another
// thread replaced the mapping).
uint64_t Extrapolate(const ClockMapping& m, uint64_t ticks) {
  if (ticks >= m.anchor_ticks) return m.anchor_ns + (((ticks - m.anchor_ticks) * m.rate) >> 32);
  return m.anchor_ns - (((m.anchor_ticks - ticks) * m.rate) >> 32);
}

}  // namespace

uint64_t ClockGettimeNanoseconds() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<uint64_t>(ts.tv_sec) * 1000000000u + static_cast<uint64_t>(ts.tv_nsec);
}

void InitializeClock() {
  if (!KernelClocksourceIsTsc() || !ReadPair(&first_ticks, &first_ns)) return;
  tsc_usable = true;
}

uint64_t internal::NowSlowly(uint64_t ticks) {
  if (!tsc_usable) return ClockGettimeNanoseconds();
  uint32_t version = clock_version.load(std::memory_order_acquire);
  ClockMapping current = clock_mappings[version & 1];
  if (updating.exchange(true, std::memory_order_acquire)) {
    // Another thread is replacing the mapping: the current one, a little past its window, is still
    // the continuous function; far past it (or never set up), only the kernel clock is right.
    if (current.window && ticks - current.anchor_ticks < 4 * current.window)
      return Extrapolate(current, ticks);
    return ClockGettimeNanoseconds();
  }
  uint64_t anchor_ticks, kernel_ns;
  uint64_t result;
  if (!ReadPair(&anchor_ticks, &kernel_ns) || anchor_ticks <= first_ticks + 16 || kernel_ns <= first_ns) {
    result = ClockGettimeNanoseconds();
  } else {
    uint64_t span = anchor_ticks - first_ticks;
    double rate = static_cast<double>(kernel_ns - first_ns) / static_cast<double>(span);
    uint64_t anchor_ns = kernel_ns;
    uint64_t window = span / 16 < kMaxWindowTicks ? span / 16 : kMaxWindowTicks;
    if (current.window && window) {
      // The new mapping starts at the current one's value and its rate is nudged to meet the kernel's
      // clock by the window's end; only a drift past kMaxDriftNs makes it jump to the kernel's value.
      uint64_t ours = Extrapolate(current, anchor_ticks);
      int64_t behind = static_cast<int64_t>(kernel_ns - ours);
      if (behind < static_cast<int64_t>(kMaxDriftNs) && behind > -static_cast<int64_t>(kMaxDriftNs)) {
        anchor_ns = ours;
        double nudge = static_cast<double>(behind) / (rate * static_cast<double>(window));
        nudge = nudge > kMaxNudge ? kMaxNudge : nudge < -kMaxNudge ? -kMaxNudge : nudge;
        rate *= 1 + nudge;
      }
    }
    if (rate > 0.1 && rate < 10.0 && window) {  // a sane counter: 0.1 to 10 GHz
      ClockMapping& next = clock_mappings[(version + 1) & 1];
      next = {anchor_ticks, anchor_ns, static_cast<uint64_t>(rate * 4294967296.0), window};
      clock_version.store(version + 1, std::memory_order_release);
    }
    const ClockMapping& now = clock_mappings[clock_version.load(std::memory_order_relaxed) & 1];
    result = now.window ? Extrapolate(now, ticks) : kernel_ns;
  }
  updating.store(false, std::memory_order_release);
  return result;
}

}  // namespace memtrace::preload

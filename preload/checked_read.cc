#include "preload/checked_read.h"

#include <sys/syscall.h>

namespace memtrace::preload {

__thread ValidatedRange validated_range __attribute__((tls_model("initial-exec")));

namespace {

constexpr uint64_t kPage = 4096;

}  // namespace

bool PageReadable(uint64_t page) {
  long result;
  register long set_size asm("r10") = 8;
  asm volatile("syscall"
               : "=a"(result)
               : "0"(static_cast<long>(SYS_rt_sigprocmask)), "D"(-1L), "S"(page), "d"(0L), "r"(set_size)
               : "rcx", "r11", "memory");
  return result != -14;  // -EFAULT
}

constexpr uint64_t kGapPages = 256;  // pages validated at most to join a read to the range (once)

[[gnu::noinline]] bool ReadWordSlow(uint64_t address, uint64_t* value, uint64_t anchor) {
  if (address < kPage || address > (uint64_t{1} << 47) - 8) return false;
  uint64_t first = address & ~(kPage - 1);
  uint64_t last = (address + 7) & ~(kPage - 1);
  if (!PageReadable(first) || (last != first && !PageReadable(last))) return false;
  ValidatedRange& range = validated_range;
  uint64_t low = range.low == range.high ? anchor & ~(kPage - 1) : range.low;
  uint64_t high = range.low == range.high ? low : range.high;
  // The pages between the range and the new ones must be readable too for the union to be a range.
  if (first >= high && first - high <= kGapPages * kPage) {
    for (uint64_t page = high; page < first; page += kPage) {
      if (!PageReadable(page)) return *value = *reinterpret_cast<const uint64_t*>(address), true;
    }
    range = {low, last + kPage};
  } else if (last + kPage <= low && low - (last + kPage) <= kGapPages * kPage) {
    for (uint64_t page = last + kPage; page < low; page += kPage) {
      if (!PageReadable(page)) return *value = *reinterpret_cast<const uint64_t*>(address), true;
    }
    range = {first, high};
  } else if (first < high && last + kPage > low) {  // overlaps
    range = {first < low ? first : low, last + kPage > high ? last + kPage : high};
  }
  *value = *reinterpret_cast<const uint64_t*>(address);
  return true;
}

bool ReadWord(uint64_t address, uint64_t* value) {
  ValidatedRange& range = validated_range;
  uint64_t sp = reinterpret_cast<uint64_t>(__builtin_frame_address(0));
  if (sp < range.low || sp >= range.high) range = {0, 0};
  if (address >= range.low && address + 8 <= range.high) {
    *value = *reinterpret_cast<const uint64_t*>(address);
    return true;
  }
  return ReadWordSlow(address, value, sp);
}

}  // namespace memtrace::preload

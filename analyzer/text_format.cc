#include "analyzer/text_format.h"

#include <fmt/core.h>

namespace memtrace::analyzer {

std::string HumanBytes(uint64_t bytes) {
  static const char* const kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return fmt::format("{} B", bytes);
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1024 && unit < 4) {
    value /= 1024;
    ++unit;
  }
  return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string HumanDelta(int64_t bytes) {
  uint64_t magnitude = bytes < 0 ? static_cast<uint64_t>(-bytes) : static_cast<uint64_t>(bytes);
  return fmt::format("{}{}", bytes < 0 ? '-' : '+', HumanBytes(magnitude));
}

std::string Seconds(uint64_t nanoseconds) {
  return fmt::format("{}.{:06}", nanoseconds / 1000000000, (nanoseconds % 1000000000) / 1000);
}

std::string Hex(uint64_t value) { return fmt::format("{:#x}", value); }

}  // namespace memtrace::analyzer

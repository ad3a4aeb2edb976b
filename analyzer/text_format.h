// Small formatting helpers shared by the text reports.
#pragma once

#include <cstdint>
#include <string>

namespace memtrace::analyzer {

// 1536 -> "1.5 KiB"; exact below 1 KiB ("24 B").
std::string HumanBytes(uint64_t bytes);
// A signed byte delta with its sign: "+132 KiB", "-4.0 KiB".
std::string HumanDelta(int64_t bytes);
// Nanoseconds since the trace began, as seconds with microsecond precision: "0.012345".
std::string Seconds(uint64_t nanoseconds);
std::string Hex(uint64_t value);

}  // namespace memtrace::analyzer

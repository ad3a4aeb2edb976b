// LEB128 varints and zigzag signed integers: the only encoding the trace uses.
//
// Unsigned values are written 7 bits per byte, least significant group first; the high bit of each byte
// says "more bytes follow". A 64-bit value takes 1..10 bytes. Signed values are zigzag-mapped first
// (0,-1,1,-2,... -> 0,1,2,3,...) so that small deltas of either sign stay short.
//
// Header-only and free of libc calls: the preload encodes inside allocation hooks.
#pragma once

#include <cstddef>
#include <cstdint>

namespace memtrace::format {

inline constexpr size_t kMaxVarintBytes = 10;

inline constexpr uint64_t ZigZagEncode(int64_t value) {
  return (static_cast<uint64_t>(value) << 1) ^ static_cast<uint64_t>(value >> 63);
}

inline constexpr int64_t ZigZagDecode(uint64_t value) {
  return static_cast<int64_t>((value >> 1) ^ (~(value & 1) + 1));
}

// Writes `value` at `out` and returns the byte after it. The caller guarantees kMaxVarintBytes of room.
inline uint8_t* PutVarint(uint8_t* out, uint64_t value) {
  while (value >= 0x80) {
    *out++ = static_cast<uint8_t>(value) | 0x80;
    value >>= 7;
  }
  *out++ = static_cast<uint8_t>(value);
  return out;
}

inline uint8_t* PutSignedVarint(uint8_t* out, int64_t value) { return PutVarint(out, ZigZagEncode(value)); }

// Reads a varint from [*cursor, end). On success advances *cursor and returns true; on a truncated or
// over-long (more than 10 bytes, or bits beyond 64) encoding returns false and leaves *cursor alone.
inline bool GetVarint(const uint8_t** cursor, const uint8_t* end, uint64_t* value) {
  const uint8_t* p = *cursor;
  if (p != end && *p < 0x80) {  // most deltas, sizes and flags fit in one byte
    *value = *p;
    *cursor = p + 1;
    return true;
  }
  uint64_t result = 0;
  for (unsigned shift = 0; shift < 64; shift += 7) {
    if (p == end) return false;
    uint8_t byte = *p++;
    if (shift == 63 && byte > 1) return false;
    result |= static_cast<uint64_t>(byte & 0x7f) << shift;
    if (!(byte & 0x80)) {
      *cursor = p;
      *value = result;
      return true;
    }
  }
  return false;
}

// GetVarint for a caller that knows kMaxVarintBytes bytes are readable at *cursor (the end it is given
// can never be reached early, so its checks fold away). Same results and failures as GetVarint.
inline bool GetVarintUnchecked(const uint8_t** cursor, uint64_t* value) {
  return GetVarint(cursor, *cursor + kMaxVarintBytes, value);
}

inline bool GetSignedVarint(const uint8_t** cursor, const uint8_t* end, int64_t* value) {
  uint64_t raw;
  if (!GetVarint(cursor, end, &raw)) return false;
  *value = ZigZagDecode(raw);
  return true;
}

}  // namespace memtrace::format

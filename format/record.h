// The record as the codecs see it: the flag bits, glibc's chunk-header facts, the decoded Record, the
// per-chunk delta state and the field helpers the encoders and decoders share. Header-only and
// libc-free (the preload includes it in its hooks). The wire layout is in record_codec.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/record_kind.h"
#include "format/varint.h"

namespace memtrace::format {

// Record.flags
inline constexpr uint8_t kFlagChunkRead = 1u << 0;     // glibc's chunk header was read: chunk_size valid
inline constexpr uint8_t kFlagMmapped = 1u << 1;       // IS_MMAPPED: the block is its own mapping
inline constexpr uint8_t kFlagNonMainArena = 1u << 2;  // served by a thread arena's mmapped heap
inline constexpr uint8_t kFlagBrkMoved = 1u << 3;      // the program break moved during this call
inline constexpr uint8_t kFlagHasStack = 1u << 4;      // stack_id follows
inline constexpr uint8_t kKnownFlags = 0x1f;

// glibc's chunk header, the word before every block it returns (malloc.c, x86-64):
//   bits 63..3  chunk size (bytes, including the 8-byte header; multiple of 16)
//   bit 2       NON_MAIN_ARENA
//   bit 1       IS_MMAPPED
//   bit 0       PREV_INUSE
// For an mmapped chunk, the word before that (prev_size) is the gap between the mapping's start and
// the chunk, so the mapping is [block - 16 - prev_size, + prev_size + chunk size).
inline constexpr uint64_t kChunkSizeMask = ~uint64_t{7};

// glibc's HEAP_MAX_SIZE on 64-bit: every thread-arena heap is a reservation of this size, aligned to
// it, with its heap_info at the start (so a NON_MAIN_ARENA block's heap is block & ~(size - 1)).
inline constexpr uint64_t kArenaHeapBytes = uint64_t{64} << 20;

// glibc's request2size: the chunk a request of n bytes needs when no alignment is asked for.
inline constexpr uint64_t RequestToChunkSize(uint64_t n) {
  uint64_t padded = (n + 8 + 15) & ~uint64_t{15};
  return padded < 32 ? 32 : padded;
}

inline constexpr size_t kMaxFrames = 256;
inline constexpr size_t kMaxMetaBytes = 4096;  // longest string a meta record carries
// Upper bound of one encoded record: call records are far smaller, stack records dominate.
inline constexpr size_t kMaxRecordBytes = 2 + 4 * kMaxVarintBytes + kMaxFrames * kMaxVarintBytes;

struct Record {
  RecordKind kind = RecordKind::kMalloc;
  uint8_t flags = 0;
  uint64_t timestamp = 0;
  // Call payload (which fields mean something depends on the shape; see the table above).
  uint64_t address = 0;
  uint64_t old_address = 0;
  uint64_t size = 0;
  uint64_t old_size = 0;
  uint64_t count = 0;
  uint64_t alignment = 0;
  uint64_t prot = 0;
  uint64_t map_flags = 0;
  uint64_t offset = 0;
  int64_t fd = 0;
  int64_t result = 0;
  int64_t param = 0;  // mallopt parameter, sbrk increment
  int64_t value = 0;  // mallopt value
  // Chunk facts.
  uint64_t chunk_size = 0;
  uint64_t chunk_offset = 0;
  uint64_t brk_before = 0;
  uint64_t brk_after = 0;
  uint32_t stack_id = 0;
  // Meta payload.
  uint32_t tid = 0;  // kThreadStart: the parent thread
  uint32_t frame_count = 0;
  const uint64_t* frames = nullptr;  // kStackDef
  const uint8_t* bytes = nullptr;    // kModule path, kEnvironment string
  uint32_t byte_count = 0;
  const uint8_t* build_id = nullptr;  // kModule
  uint32_t build_id_count = 0;
};

static_assert(sizeof(Record) % 16 == 0);

// Zeroes *r with sixteen-byte stores. A memset or `*r = Record{}` of its 208 bytes becomes `rep stos`,
// whose start-up alone costs more than decoding a plain call, or a temporary whose byte-wide `kind`
// store, read back as a vector, stalls store forwarding.
inline void ZeroRecord(Record* r) {
  typedef long long Zeros __attribute__((vector_size(16), aligned(8)));
#pragma GCC unroll 16
  for (size_t i = 0; i < sizeof(Record) / 16; ++i) reinterpret_cast<Zeros*>(r)[i] = Zeros{0, 0};
}

// The running state that deltas are taken against; one per chunk, zeroed at the chunk's start.
struct DeltaState {
  uint64_t last_timestamp = 0;
  uint64_t last_address = 0;
};

// The chunk size a record's request would have if glibc served it plainly; stored chunk sizes are
// deltas from it, so the common case costs one byte.
inline constexpr uint64_t ExpectedChunkSize(const Record& r) {
  switch (ShapeOf(r.kind)) {
    case Shape::kAlloc:
    case Shape::kAlignedAlloc:
    case Shape::kRealloc: return RequestToChunkSize(r.size);
    case Shape::kArrayAlloc:
    case Shape::kArrayRealloc: return RequestToChunkSize(r.count * r.size);
    default: return 0;
  }
}

namespace internal {

inline uint8_t* PutAddress(uint8_t* out, DeltaState& state, uint64_t address) {
  out = PutSignedVarint(out, static_cast<int64_t>(address - state.last_address));
  state.last_address = address;
  return out;
}

inline bool GetAddress(const uint8_t** cursor, const uint8_t* end, DeltaState& state, uint64_t* address) {
  int64_t delta;
  if (!GetSignedVarint(cursor, end, &delta)) return false;
  *address = state.last_address + static_cast<uint64_t>(delta);
  state.last_address = *address;
  return true;
}

inline uint8_t* PutBytes(uint8_t* out, const uint8_t* bytes, uint32_t count) {
  out = PutVarint(out, count);
  for (uint32_t i = 0; i < count; ++i) *out++ = bytes[i];
  return out;
}

// On failure leaves *cursor alone, except for a string of legal length that runs past `end`: that record
// was cut, so *cursor moves to `end` for DecodeRecord to report a truncation rather than corruption.
inline bool GetBytes(const uint8_t** cursor, const uint8_t* end, const uint8_t** bytes, uint32_t* count) {
  uint64_t n;
  const uint8_t* p = *cursor;
  if (!GetVarint(&p, end, &n) || n > kMaxMetaBytes) return false;
  if (n > static_cast<uint64_t>(end - p)) {
    *cursor = end;
    return false;
  }
  *bytes = p;
  *count = static_cast<uint32_t>(n);
  *cursor = p + n;
  return true;
}

}  // namespace internal

}  // namespace memtrace::format

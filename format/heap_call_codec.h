// Plain allocations and releases (Shape::kAlloc, Shape::kRelease of ordinary heap chunks): most of
// every trace, so they have fast paths of their own, written and read without building a Record and,
// when the buffer has room for their longest form, without end checks. Same bytes as EncodeRecord and
// DecodeRecord (record_codec.h, which uses these; tested against them in record_codec_test.cc).
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/record.h"

namespace memtrace::format {

// The hooks' fast path: the same bytes EncodeRecord writes for the two records most traces are made of,
// without building a Record. `flags` may hold only kFlagChunkRead, kFlagNonMainArena and kFlagHasStack
// (no mmapped chunk, no break move); `stack_id` is written only with kFlagHasStack. Same room and
// timestamp contract as EncodeRecord; kFastRecordBytes bounds either.
inline constexpr size_t kFastRecordBytes = 2 + 6 * kMaxVarintBytes;

namespace internal {
// Kind, flags and time delta: how every record starts.
inline uint8_t* PutCallHead(uint8_t* out, DeltaState& state, RecordKind kind, uint8_t flags,
                            uint64_t timestamp) {
  out[0] = static_cast<uint8_t>(kind);
  out[1] = flags;
  out = PutVarint(out + 2, timestamp - state.last_timestamp);
  state.last_timestamp = timestamp;
  return out;
}
}  // namespace internal

// A Shape::kAlloc record (malloc, valloc, pvalloc, operator new without alignment).
inline uint8_t* EncodeHeapAllocation(uint8_t* out, DeltaState& state, RecordKind kind, uint8_t flags,
                                     uint64_t timestamp, uint64_t size, uint64_t address, uint64_t chunk_size,
                                     uint32_t stack_id) {
  out = internal::PutCallHead(out, state, kind, flags, timestamp);
  out = PutVarint(out, size);
  out = internal::PutAddress(out, state, address);
  if (flags & kFlagChunkRead)
    out = PutSignedVarint(out, static_cast<int64_t>(chunk_size - RequestToChunkSize(size)));
  if (flags & kFlagHasStack) out = PutVarint(out, stack_id);
  return out;
}

// A Shape::kRelease record of a block that was not an mmapped chunk (free, operator delete).
inline uint8_t* EncodeHeapRelease(uint8_t* out, DeltaState& state, RecordKind kind, uint8_t flags,
                                  uint64_t timestamp, uint64_t address, uint64_t size, uint64_t alignment,
                                  uint32_t stack_id) {
  out = internal::PutCallHead(out, state, kind, flags, timestamp);
  out = internal::PutAddress(out, state, address);
  out = PutVarint(out, size);
  out = PutVarint(out, alignment);
  if (flags & kFlagHasStack) out = PutVarint(out, stack_id);
  return out;
}

namespace internal {

// Bytes a Shape::kAlloc or Shape::kRelease record can take: kind, flags and eight varints.
inline constexpr ptrdiff_t kMaxHeapCallBytes = 2 + 8 * kMaxVarintBytes;

// The fields of a plain allocation or release (Shape::kAlloc, Shape::kRelease) as stored: the one
// parse behind the fast paths of DecodeRecord and DecodeBlockCall.
struct HeapCall {
  RecordKind kind;
  uint8_t flags;
  bool allocation;                                                      // Shape::kAlloc; else Shape::kRelease
  uint64_t time_delta = 0, size = 0, alignment = 0, address_delta = 0;  // address_delta: zigzag
  uint64_t chunk_delta = 0, chunk_offset = 0;                           // chunk_delta: zigzag
  uint64_t brk_before = 0, brk_delta = 0;                               // brk_delta: zigzag
  uint64_t stack_id = 0;
};

// Reads a plain call at *cursor, which has kMaxHeapCallBytes of room: no end checks. Returns false,
// having moved nothing, when the record is anything else or does not decode (the general decoder then
// says why).
[[gnu::always_inline]] inline bool ReadHeapCall(const uint8_t** cursor, HeapCall* c) {
  const uint8_t* p = *cursor;
  c->kind = static_cast<RecordKind>(p[0]);
  c->flags = p[1];
  Shape shape = ShapeOf(c->kind);
  if ((shape != Shape::kAlloc && shape != Shape::kRelease) || (c->flags & ~kKnownFlags)) return false;
  c->allocation = shape == Shape::kAlloc;
  p += 2;
  bool ok = GetVarintUnchecked(&p, &c->time_delta);
  if (c->allocation) {
    ok = ok && GetVarintUnchecked(&p, &c->size) && GetVarintUnchecked(&p, &c->address_delta);
  } else {
    ok = ok && GetVarintUnchecked(&p, &c->address_delta) && GetVarintUnchecked(&p, &c->size) &&
         GetVarintUnchecked(&p, &c->alignment);
  }
  if (c->flags & kFlagChunkRead) {
    ok = ok && GetVarintUnchecked(&p, &c->chunk_delta) &&
         (!(c->flags & kFlagMmapped) || GetVarintUnchecked(&p, &c->chunk_offset));
  }
  if (c->flags & kFlagBrkMoved) {
    ok = ok && GetVarintUnchecked(&p, &c->brk_before) && GetVarintUnchecked(&p, &c->brk_delta);
  }
  if (c->flags & kFlagHasStack) ok = ok && GetVarintUnchecked(&p, &c->stack_id);
  if (!ok) return false;
  *cursor = p;
  return true;
}

// Moves the delta state past a plain call; returns its address.
inline uint64_t AdvanceHeapCall(const HeapCall& c, DeltaState& state) {
  state.last_address += static_cast<uint64_t>(ZigZagDecode(c.address_delta));
  state.last_timestamp += c.time_delta;
  return state.last_address;
}

// DecodeRecord's fast path for plain calls (most of every trace) with room for their longest form.
inline bool DecodeHeapCall(const uint8_t** cursor, DeltaState& state, Record* r) {
  HeapCall c;
  if (!ReadHeapCall(cursor, &c)) return false;
  ZeroRecord(r);
  r->kind = c.kind;
  r->flags = c.flags;
  r->size = c.size;
  r->alignment = c.alignment;
  r->address = AdvanceHeapCall(c, state);
  r->timestamp = state.last_timestamp;
  if (c.flags & kFlagChunkRead) {
    r->chunk_size = ExpectedChunkSize(*r) + static_cast<uint64_t>(ZigZagDecode(c.chunk_delta));
    r->chunk_offset = c.chunk_offset;
  }
  if (c.flags & kFlagBrkMoved) {
    r->brk_before = c.brk_before;
    r->brk_after = c.brk_before + static_cast<uint64_t>(ZigZagDecode(c.brk_delta));
  }
  r->stack_id = static_cast<uint32_t>(c.stack_id);
  return true;
}

}  // namespace internal

}  // namespace memtrace::format

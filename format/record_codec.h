// Encoding and decoding of one record. Header-only and libc-free: the preload encodes in its hooks,
// the analyzer decodes, and both use the same field order from here.
//
// Wire layout of every record:
//
//   u8      kind            RecordKind
//   u8      flags           kFlag* bits below
//   varint  time delta      ns since the previous record of the chunk (the first: since first_timestamp)
//   ...     payload         by shape, every field a varint; "addr" fields are zigzag deltas from the
//                           previous address field of the chunk, "s" fields are zigzag signed
//     kAlloc         size, addr address
//     kArrayAlloc    count, size (of one element), addr address
//     kAlignedAlloc  alignment, size, addr address, s result (posix_memalign's return code, else 0)
//     kRealloc       addr old_address, size, addr address
//     kArrayRealloc  addr old_address, count, size, addr address
//     kRelease       addr address, size (sized delete, else 0), alignment (aligned delete, else 0)
//     kMmap          addr old_address (hint), size (length), prot, map_flags, s fd, offset,
//                    addr address (the result; MAP_FAILED is all ones)
//     kMunmap        addr address, size (length), s result
//     kMremap        addr old_address, old_size, size, map_flags, addr address
//     kMprotect      addr address, size (length), prot (advice for madvise), s result
//     kBrk           addr old_address (requested break), s result
//     kSbrk          s increment, addr address (the previous break, or all ones on failure)
//     kMallopt       s param, s value, s result
//     meta kinds     see the kMeta case of EncodeRecord; kinds from kFirstGenericMetaKind on share the
//                    "generic meta" layout: addr address, size, old_size, prot, map_flags, offset,
//                    count, s param, bytes (varint length + bytes)
//   if kFlagChunkRead:  s chunk_size - ExpectedChunkSize(record), and if kFlagMmapped: chunk_offset
//   if kFlagBrkMoved:   brk_before, s (brk_after - brk_before)
//   if kFlagHasStack:   stack_id
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

// Bytes EncodeRecord may write for `r`, used to check room before encoding.
inline constexpr size_t EncodedBound(const Record& r) {
  return 2 + 16 * kMaxVarintBytes + r.frame_count * kMaxVarintBytes + r.byte_count + r.build_id_count;
}

// Appends `r`, stamped `timestamp`, at `out` and returns the end. The caller guarantees EncodedBound(r)
// bytes of room and that `timestamp` is not before state.last_timestamp.
inline uint8_t* EncodeRecord(uint8_t* out, DeltaState& state, const Record& r, uint64_t timestamp) {
  using internal::PutAddress;
  *out++ = static_cast<uint8_t>(r.kind);
  *out++ = r.flags;
  out = PutVarint(out, timestamp - state.last_timestamp);
  state.last_timestamp = timestamp;
  switch (ShapeOf(r.kind)) {
    case Shape::kAlloc:
      out = PutVarint(out, r.size);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kArrayAlloc:
      out = PutVarint(out, r.count);
      out = PutVarint(out, r.size);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kAlignedAlloc:
      out = PutVarint(out, r.alignment);
      out = PutVarint(out, r.size);
      out = PutAddress(out, state, r.address);
      out = PutSignedVarint(out, r.result);
      break;
    case Shape::kRealloc:
      out = PutAddress(out, state, r.old_address);
      out = PutVarint(out, r.size);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kArrayRealloc:
      out = PutAddress(out, state, r.old_address);
      out = PutVarint(out, r.count);
      out = PutVarint(out, r.size);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kRelease:
      out = PutAddress(out, state, r.address);
      out = PutVarint(out, r.size);
      out = PutVarint(out, r.alignment);
      break;
    case Shape::kMmap:
      out = PutAddress(out, state, r.old_address);
      out = PutVarint(out, r.size);
      out = PutVarint(out, r.prot);
      out = PutVarint(out, r.map_flags);
      out = PutSignedVarint(out, r.fd);
      out = PutVarint(out, r.offset);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kMunmap:
      out = PutAddress(out, state, r.address);
      out = PutVarint(out, r.size);
      out = PutSignedVarint(out, r.result);
      break;
    case Shape::kMremap:
      out = PutAddress(out, state, r.old_address);
      out = PutVarint(out, r.old_size);
      out = PutVarint(out, r.size);
      out = PutVarint(out, r.map_flags);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kMprotect:
      out = PutAddress(out, state, r.address);
      out = PutVarint(out, r.size);
      out = PutVarint(out, r.prot);
      out = PutSignedVarint(out, r.result);
      break;
    case Shape::kBrk:
      out = PutAddress(out, state, r.old_address);
      out = PutSignedVarint(out, r.result);
      break;
    case Shape::kSbrk:
      out = PutSignedVarint(out, r.param);
      out = PutAddress(out, state, r.address);
      break;
    case Shape::kMallopt:
      out = PutSignedVarint(out, r.param);
      out = PutSignedVarint(out, r.value);
      out = PutSignedVarint(out, r.result);
      break;
    case Shape::kMeta:
      if (static_cast<uint8_t>(r.kind) >= kFirstGenericMetaKind) {
        out = PutAddress(out, state, r.address);
        out = PutVarint(out, r.size);
        out = PutVarint(out, r.old_size);
        out = PutVarint(out, r.prot);
        out = PutVarint(out, r.map_flags);
        out = PutVarint(out, r.offset);
        out = PutVarint(out, r.count);
        out = PutSignedVarint(out, r.param);
        return internal::PutBytes(out, r.bytes, r.byte_count);
      }
      switch (r.kind) {
        case RecordKind::kStackDef:
          out = PutVarint(out, r.stack_id);
          out = PutVarint(out, r.frame_count);
          for (uint32_t i = 0; i < r.frame_count; ++i) {
            out = PutSignedVarint(out, static_cast<int64_t>(r.frames[i] - (i ? r.frames[i - 1] : 0)));
          }
          return out;
        case RecordKind::kModule:
          out = PutVarint(out, r.address);
          out = PutVarint(out, r.size);
          out = internal::PutBytes(out, r.bytes, r.byte_count);
          return internal::PutBytes(out, r.build_id, r.build_id_count);
        case RecordKind::kProcessEnd:
          out = PutVarint(out, static_cast<uint64_t>(r.param));
          return PutSignedVarint(out, r.result);
        case RecordKind::kDropped: return PutVarint(out, r.count);
        case RecordKind::kEnvironment: return internal::PutBytes(out, r.bytes, r.byte_count);
        case RecordKind::kThreadStart: return PutVarint(out, r.tid);
        case RecordKind::kLeakClass:
          out = PutAddress(out, state, r.address);
          out = PutVarint(out, static_cast<uint64_t>(r.param));
          return PutVarint(out, r.size);
        case RecordKind::kStartupBreakMove:
          out = PutVarint(out, r.brk_before);
          return PutSignedVarint(out, static_cast<int64_t>(r.brk_after - r.brk_before));
        case RecordKind::kLeakScan:
          out = PutVarint(out, r.count);
          out = PutVarint(out, r.size);
          return PutVarint(out, static_cast<uint64_t>(r.param));
        default: return out;
      }
  }
  if (r.flags & kFlagChunkRead) {
    out = PutSignedVarint(out, static_cast<int64_t>(r.chunk_size - ExpectedChunkSize(r)));
    if (r.flags & kFlagMmapped) out = PutVarint(out, r.chunk_offset);
  }
  if (r.flags & kFlagBrkMoved) {
    out = PutVarint(out, r.brk_before);
    out = PutSignedVarint(out, static_cast<int64_t>(r.brk_after - r.brk_before));
  }
  if (r.flags & kFlagHasStack) out = PutVarint(out, r.stack_id);
  return out;
}

inline uint8_t* EncodeRecord(uint8_t* out, DeltaState& state, const Record& r) {
  return EncodeRecord(out, state, r, r.timestamp);
}

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

enum class DecodeStatus { kOk, kTruncated, kCorrupt };

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
inline bool ReadHeapCall(const uint8_t** cursor, HeapCall* c) {
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
  __builtin_memset(static_cast<void*>(r), 0, sizeof *r);  // see DecodeRecord
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

// Decodes one record from [*cursor, end) into *r. Stack frames are written to `frames` (kMaxFrames
// long) and r->frames points there; strings point into the input. On kOk advances *cursor.
inline DecodeStatus DecodeRecord(const uint8_t** cursor, const uint8_t* end, DeltaState& state, Record* r,
                                 uint64_t* frames) {
  using internal::GetAddress;
  const uint8_t* p = *cursor;
  if (end - p >= internal::kMaxHeapCallBytes && internal::DecodeHeapCall(cursor, state, r)) [[likely]] {
    return DecodeStatus::kOk;
  }
  if (end - p < 2) return DecodeStatus::kTruncated;
  // Zeroed in place: `*r = Record{}` builds a temporary whose byte-wide `kind` store, read back as a
  // vector, stalls store forwarding on every record.
  __builtin_memset(static_cast<void*>(r), 0, sizeof *r);
  r->kind = static_cast<RecordKind>(p[0]);
  r->flags = p[1];
  p += 2;
  bool known;
  Shape shape = ShapeOf(r->kind, &known);
  if (!known || (r->flags & ~kKnownFlags)) return DecodeStatus::kCorrupt;
  // Any field that runs off the end means the record was cut; GetVarint cannot tell a cut from an
  // over-long varint, so a failure at the very end is a truncation and anywhere else corruption.
  bool ok = true;
  auto u = [&](uint64_t* v) { ok = ok && GetVarint(&p, end, v); };
  auto s = [&](int64_t* v) { ok = ok && GetSignedVarint(&p, end, v); };
  auto a = [&](uint64_t* v) { ok = ok && GetAddress(&p, end, state, v); };
  uint64_t delta = 0;
  u(&delta);
  r->timestamp = state.last_timestamp + delta;
  state.last_timestamp = r->timestamp;
  switch (shape) {
    case Shape::kAlloc: u(&r->size), a(&r->address); break;
    case Shape::kArrayAlloc: u(&r->count), u(&r->size), a(&r->address); break;
    case Shape::kAlignedAlloc: u(&r->alignment), u(&r->size), a(&r->address), s(&r->result); break;
    case Shape::kRealloc: a(&r->old_address), u(&r->size), a(&r->address); break;
    case Shape::kArrayRealloc: a(&r->old_address), u(&r->count), u(&r->size), a(&r->address); break;
    case Shape::kRelease: a(&r->address), u(&r->size), u(&r->alignment); break;
    case Shape::kMmap:
      a(&r->old_address), u(&r->size), u(&r->prot), u(&r->map_flags), s(&r->fd), u(&r->offset),
          a(&r->address);
      break;
    case Shape::kMunmap: a(&r->address), u(&r->size), s(&r->result); break;
    case Shape::kMremap:
      a(&r->old_address), u(&r->old_size), u(&r->size), u(&r->map_flags), a(&r->address);
      break;
    case Shape::kMprotect: a(&r->address), u(&r->size), u(&r->prot), s(&r->result); break;
    case Shape::kBrk: a(&r->old_address), s(&r->result); break;
    case Shape::kSbrk: s(&r->param), a(&r->address); break;
    case Shape::kMallopt: s(&r->param), s(&r->value), s(&r->result); break;
    case Shape::kMeta: {
      uint64_t v = 0;
      if (static_cast<uint8_t>(r->kind) >= kFirstGenericMetaKind) {
        a(&r->address), u(&r->size), u(&r->old_size), u(&r->prot), u(&r->map_flags), u(&r->offset),
            u(&r->count), s(&r->param);
        ok = ok && internal::GetBytes(&p, end, &r->bytes, &r->byte_count);
      }
      switch (r->kind) {
        case RecordKind::kStackDef: {
          u(&v);
          r->stack_id = static_cast<uint32_t>(v);
          uint64_t n = 0;
          u(&n);
          if (ok && n > kMaxFrames) return DecodeStatus::kCorrupt;
          uint64_t previous = 0;
          for (uint64_t i = 0; ok && i < n; ++i) {
            int64_t d = 0;
            s(&d);
            frames[i] = previous + static_cast<uint64_t>(d);
            previous = frames[i];
          }
          r->frame_count = static_cast<uint32_t>(n);
          r->frames = frames;
          break;
        }
        case RecordKind::kModule:
          u(&r->address), u(&r->size);
          ok = ok && internal::GetBytes(&p, end, &r->bytes, &r->byte_count);
          ok = ok && internal::GetBytes(&p, end, &r->build_id, &r->build_id_count);
          break;
        case RecordKind::kProcessEnd:
          u(&v), s(&r->result);
          r->param = static_cast<int64_t>(v);
          break;
        case RecordKind::kDropped: u(&r->count); break;
        case RecordKind::kEnvironment:
          ok = ok && internal::GetBytes(&p, end, &r->bytes, &r->byte_count);
          break;
        case RecordKind::kThreadStart:
          u(&v);
          r->tid = static_cast<uint32_t>(v);
          break;
        case RecordKind::kLeakClass:
          a(&r->address), u(&v), u(&r->size);
          r->param = static_cast<int64_t>(v);
          break;
        case RecordKind::kStartupBreakMove: {
          int64_t d = 0;
          u(&r->brk_before), s(&d);
          r->brk_after = r->brk_before + static_cast<uint64_t>(d);
          break;
        }
        case RecordKind::kLeakScan:
          u(&r->count), u(&r->size), u(&v);
          r->param = static_cast<int64_t>(v);
          break;
        default: break;
      }
      if (!ok)
        return end - p < static_cast<ptrdiff_t>(kMaxVarintBytes) ? DecodeStatus::kTruncated
                                                                 : DecodeStatus::kCorrupt;
      *cursor = p;
      return DecodeStatus::kOk;
    }
  }
  if (ok && (r->flags & kFlagChunkRead)) {
    int64_t d = 0;
    s(&d);
    r->chunk_size = ExpectedChunkSize(*r) + static_cast<uint64_t>(d);
    if (r->flags & kFlagMmapped) u(&r->chunk_offset);
  }
  if (ok && (r->flags & kFlagBrkMoved)) {
    int64_t d = 0;
    u(&r->brk_before), s(&d);
    r->brk_after = r->brk_before + static_cast<uint64_t>(d);
  }
  if (ok && (r->flags & kFlagHasStack)) {
    uint64_t v = 0;
    u(&v);
    r->stack_id = static_cast<uint32_t>(v);
  }
  if (!ok)
    return end - p < static_cast<ptrdiff_t>(kMaxVarintBytes) ? DecodeStatus::kTruncated
                                                             : DecodeStatus::kCorrupt;
  *cursor = p;
  return DecodeStatus::kOk;
}

// What a record does to the set of live blocks: the exit-time scan's view of the trace.
struct BlockCall {
  RecordKind kind;
  uint8_t flags;
  uint64_t timestamp;
  uint64_t address;  // the block yielded or released; 0 for records that do neither
  uint64_t bytes;    // for a block yielded: its requested size (count * size for the array forms)
  bool yields;       // YieldsBlock(kind) and a block was returned
  bool releases;     // Shape::kRelease
};

// Decodes one record like DecodeRecord (same status, cursor and state afterwards) and says what it
// does to the set of live blocks. Plain calls are read without building a Record; anything else goes
// through DecodeRecord into *scratch.
inline DecodeStatus DecodeBlockCall(const uint8_t** cursor, const uint8_t* end, DeltaState& state,
                                    BlockCall* call, Record* scratch, uint64_t* frames) {
  internal::HeapCall c;
  if (end - *cursor >= internal::kMaxHeapCallBytes && internal::ReadHeapCall(cursor, &c)) [[likely]] {
    call->kind = c.kind;
    call->flags = c.flags;
    call->address = internal::AdvanceHeapCall(c, state);
    call->timestamp = state.last_timestamp;
    call->releases = !c.allocation;
    call->yields = c.allocation && YieldsBlock(c.kind) && call->address;
    call->bytes = call->yields ? c.size : 0;
    return DecodeStatus::kOk;
  }
  DecodeStatus status = DecodeRecord(cursor, end, state, scratch, frames);
  if (status != DecodeStatus::kOk) return status;
  const Record& r = *scratch;
  Shape shape = ShapeOf(r.kind);
  call->kind = r.kind;
  call->flags = r.flags;
  call->timestamp = r.timestamp;
  call->releases = shape == Shape::kRelease;
  call->yields = YieldsBlock(r.kind) && r.address;
  call->address = call->yields || call->releases ? r.address : 0;
  bool array = shape == Shape::kArrayAlloc || shape == Shape::kArrayRealloc;
  call->bytes = call->yields ? (array ? r.count * r.size : r.size) : 0;
  return DecodeStatus::kOk;
}

}  // namespace memtrace::format

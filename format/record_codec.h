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
//
// The in-memory Record and the delta state are in record.h; the fast paths of plain calls in
// heap_call_codec.h.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/heap_call_codec.h"
#include "format/record.h"
#include "format/record_kind.h"
#include "format/varint.h"

namespace memtrace::format {

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

enum class DecodeStatus { kOk, kTruncated, kCorrupt };

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
  ZeroRecord(r);
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

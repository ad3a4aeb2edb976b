// The compiled form of a trace that memtrace-replay executes: the malloc-family calls only, with
// addresses replaced by slots, grouped by thread.
//
//   offset 0              OpFileHeader
//   header_bytes          block, block, ...   each a BlockHeader + up to kBlockBytes of encoded ops
//
// A block holds ops of one thread; a thread's blocks appear in its program order, so a replay thread
// reads only its own blocks, front to back, into a small buffer (no mapping of the whole file: its
// pages would count in the replay's RSS).
//
// Process ops (mallopt, malloc_trim, the program's own brk/sbrk) name no slot: they carry the recorded
// call's arguments and run on their recorded thread at their place in its order; other threads' ops are
// not ordered against them.
//
// Slots: a slot names one block from allocation to release (realloc keeps the slot). Slot ids are
// reused after release, per thread, so reuse never adds a wait between threads.
//
// Cross-thread order: every slot has a sequence number, the count of ops executed on it so far. An op
// whose slot was last touched by another thread carries kOpWaits and the sequence it needs; the replay
// thread waits until the slot reaches it. Every dependency follows the trace's timestamp order, so the
// replay cannot deadlock.
//
// Header-only and libstdc++-free: memtrace-replay links no C++ runtime (its own allocations would
// change the heap it measures).
#pragma once

#include <cstdint>
#include <cstring>

#include "format/varint.h"

namespace memtrace::replay {

inline constexpr char kOpFileMagic[8] = {'M', 'T', 'R', 'E', 'P', 'L', 'A', 'Y'};
inline constexpr uint32_t kOpFileVersion = 2;
inline constexpr uint32_t kBlockBytes = 64 * 1024;
inline constexpr uint32_t kMaxOpBytes = 2 + 5 * format::kMaxVarintBytes;

struct OpFileHeader {
  char magic[8];
  uint32_t version;
  uint32_t threads;     // thread 0 is the recorded main thread
  uint64_t slots;       // every slot id is below this
  uint64_t operations;  // all ops, spawns included
  uint64_t blocks;
  uint64_t header_bytes;  // the first block starts here
  // Heap bytes live before tracing began (memtrace's own start-up, when it loads its unwinder), found
  // from where the first traced block landed in glibc's main heap. The replay allocates one block this
  // large first, so its heap grows at the same moments as the recorded one (0: none seen).
  uint64_t prefill_bytes;
};

struct BlockHeader {
  uint32_t thread;
  uint32_t bytes;  // encoded ops that follow
  uint32_t operations;
  uint32_t reserved;
};

enum class OpKind : uint8_t {
  kMalloc = 1,  // malloc and every operator new without alignment
  kCalloc,      // size = count * element size
  kAligned,     // memalign family and aligned operator new; valloc/pvalloc with the page as alignment
  kRealloc,     // the slot keeps its identity across the move
  kFree,        // free, every operator delete, realloc(p, 0)
  kSpawn,       // start replay thread `slot` (emitted where the thread's first call appears)
  kMallopt,     // mallopt(param, value); `value` in the op is the recorded value
  kMallocTrim,  // malloc_trim(param); `value` is the recorded result (1: memory was released)
  kSbrk,        // the program's own brk/sbrk: moves the break by param, the recorded move; value 1: it
                // was brk(), replayed as brk(break + param), 0: sbrk, replayed as sbrk(param)
};

// Op flags.
inline constexpr uint8_t kOpWaits = 1u << 0;         // `sequence` follows: wait for another thread
inline constexpr uint8_t kOpVerdictKnown = 1u << 1;  // glibc's chunk header was read when recorded
inline constexpr uint8_t kOpMmapped = 1u << 2;       // ...and said IS_MMAPPED
inline constexpr uint8_t kOpBrkMoved = 1u << 3;      // the recorded call moved the break by `brk_delta`

struct Op {
  OpKind kind = OpKind::kMalloc;
  uint8_t flags = 0;
  uint32_t slot = 0;  // the thread index for kSpawn
  uint32_t sequence = 0;
  uint64_t size = 0;
  uint64_t alignment = 0;
  int64_t brk_delta = 0;
  int64_t param = 0;  // process ops only
  int64_t value = 0;
};

inline bool IsProcessOp(OpKind kind) { return kind >= OpKind::kMallopt; }
inline bool HasSize(OpKind kind) { return kind <= OpKind::kRealloc; }

inline uint8_t* EncodeOp(uint8_t* out, const Op& op) {
  *out++ = static_cast<uint8_t>(op.kind);
  *out++ = op.flags;
  if (IsProcessOp(op.kind)) {
    out = format::PutSignedVarint(out, op.param);
    out = format::PutSignedVarint(out, op.value);
  } else {
    out = format::PutVarint(out, op.slot);
  }
  if (HasSize(op.kind)) out = format::PutVarint(out, op.size);
  if (op.kind == OpKind::kAligned) out = format::PutVarint(out, op.alignment);
  if (op.flags & kOpWaits) out = format::PutVarint(out, op.sequence);
  if (op.flags & kOpBrkMoved) out = format::PutSignedVarint(out, op.brk_delta);
  return out;
}

// Decodes one op; false on bytes that are not a valid op (a damaged or foreign file).
inline bool DecodeOp(const uint8_t** cursor, const uint8_t* end, Op* op) {
  const uint8_t* p = *cursor;
  if (end - p < 2) return false;
  uint8_t kind = *p++;
  if (kind < static_cast<uint8_t>(OpKind::kMalloc) || kind > static_cast<uint8_t>(OpKind::kSbrk))
    return false;
  op->kind = static_cast<OpKind>(kind);
  op->flags = *p++;
  op->slot = 0;
  op->size = op->alignment = 0;
  op->sequence = 0;
  op->brk_delta = op->param = op->value = 0;
  uint64_t v = 0;
  if (IsProcessOp(op->kind)) {
    if (!format::GetSignedVarint(&p, end, &op->param) || !format::GetSignedVarint(&p, end, &op->value))
      return false;
    if (op->flags & kOpWaits) return false;  // process ops wait for no slot
  } else {
    if (!format::GetVarint(&p, end, &v) || v > UINT32_MAX) return false;
    op->slot = static_cast<uint32_t>(v);
  }
  if (HasSize(op->kind) && !format::GetVarint(&p, end, &op->size)) return false;
  if (op->kind == OpKind::kAligned && !format::GetVarint(&p, end, &op->alignment)) return false;
  if (op->flags & kOpWaits) {
    if (!format::GetVarint(&p, end, &v) || v > UINT32_MAX) return false;
    op->sequence = static_cast<uint32_t>(v);
  }
  if ((op->flags & kOpBrkMoved) && !format::GetSignedVarint(&p, end, &op->brk_delta)) return false;
  *cursor = p;
  return true;
}

inline bool IsOpFileHeader(const OpFileHeader& header) {
  return std::memcmp(header.magic, kOpFileMagic, sizeof kOpFileMagic) == 0 &&
         header.version == kOpFileVersion && header.header_bytes >= sizeof(OpFileHeader);
}

}  // namespace memtrace::replay

// What a decoded record means for memory: which block it creates or releases, how many bytes were
// asked for, and glibc's verdict on where the block came from.
#pragma once

#include <cstdint>

#include "format/trace_reader.h"

namespace memtrace::analyzer {

using format::Event;
using format::RecordKind;
using format::Shape;

// Where glibc served an allocation from, read from the chunk header at run time.
enum class Verdict : uint8_t { kHeap, kMmapped, kUnknown };

inline const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kHeap: return "heap";
    case Verdict::kMmapped: return "mmap";
    case Verdict::kUnknown: return "unknown";
  }
  return "unknown";
}

inline Verdict VerdictOf(const Event& e) {
  if (!(e.flags & format::kFlagChunkRead)) return Verdict::kUnknown;
  return (e.flags & format::kFlagMmapped) ? Verdict::kMmapped : Verdict::kHeap;
}

inline bool IsCall(const Event& e) { return !format::IsMeta(e.kind); }

// A call that hands out a block, and succeeded.
inline bool IsAllocation(const Event& e) { return format::YieldsBlock(e.kind) && e.address != 0; }

inline bool IsRelease(const Event& e) { return format::ShapeOf(e.kind) == Shape::kRelease; }

// Bytes the program asked for.
inline uint64_t RequestedBytes(const Event& e) {
  Shape shape = format::ShapeOf(e.kind);
  if (shape == Shape::kArrayAlloc || shape == Shape::kArrayRealloc) return e.count * e.size;
  return e.size;
}

// A realloc that kept its block where it was (only the size changed).
inline bool IsResizeInPlace(const Event& e) {
  Shape shape = format::ShapeOf(e.kind);
  return (shape == Shape::kRealloc || shape == Shape::kArrayRealloc) && e.old_address != 0 &&
         e.old_address == e.address;
}

// Which release a block's allocation calls for: free for the malloc family, the matching delete for
// each operator new. Releasing with another family is undefined behaviour the report points out.
enum class Family : uint8_t { kMalloc, kNew, kNewArray, kNewAligned, kNewArrayAligned };

inline Family AllocationFamily(RecordKind kind) {
  switch (kind) {
    case RecordKind::kNew: return Family::kNew;
    case RecordKind::kNewArray: return Family::kNewArray;
    case RecordKind::kNewAligned: return Family::kNewAligned;
    case RecordKind::kNewArrayAligned: return Family::kNewArrayAligned;
    default: return Family::kMalloc;
  }
}

inline Family ReleaseFamily(RecordKind kind) {
  switch (kind) {
    case RecordKind::kDelete: return Family::kNew;
    case RecordKind::kDeleteArray: return Family::kNewArray;
    case RecordKind::kDeleteAligned: return Family::kNewAligned;
    case RecordKind::kDeleteArrayAligned: return Family::kNewArrayAligned;
    default: return Family::kMalloc;
  }
}

// A block glibc carved from the main arena's sbrk heap (its chunk header was read).
inline bool IsMainHeapChunk(const Event& e) {
  return (e.flags & format::kFlagChunkRead) &&
         !(e.flags & (format::kFlagMmapped | format::kFlagNonMainArena));
}

// The mapping an mmapped chunk lives in: [base, base + length).
inline uint64_t MappingBase(const Event& e) { return e.address - 16 - e.chunk_offset; }
inline uint64_t MappingLength(const Event& e) { return e.chunk_offset + e.chunk_size; }

}  // namespace memtrace::analyzer

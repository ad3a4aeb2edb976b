// The on-disk layout of a packed .mtr trace: the raw trace (trace_layout.h) after its process ended,
// each used chunk compressed on its own with zstd.
//
//   offset 0                 FileHeader (sizeof(FileHeader) bytes, not padded to a page), the raw
//                            header with kHeaderPacked set in flags; every other field is as the
//                            raw trace had it (header_bytes, chunk_bytes and chunks_allocated too)
//   sizeof(FileHeader)       frame 0    one zstd frame per kept chunk, in the raw file's chunk order,
//   + size of frame 0        frame 1    back to back; each decompresses to the chunk's ChunkHeader
//   ...                                 and its committed record bytes (content checksum on)
//   index_offset             PackedChunk[chunk_count]   one 32-byte entry per frame, in frame order
//   file size - 40           PackedFooter               40 bytes, always the last bytes of the file
//
// PackedChunk (32 bytes, little-endian):
//
//   byte  0        8        16       20       24       28      32
//         +--------+--------+--------+--------+--------+-------+
//         |raw_off |frame_  |frame_  |stored_ |tid     |flags  |
//         |u64     |off u64 |size u32|size u32|u32     |u32    |
//         +--------+--------+--------+--------+--------+-------+
//
//   raw_offset    where the chunk sat in the raw file: error messages name raw byte offsets, so a
//                 packed trace reports a damaged record at the same place its raw trace would
//   frame_offset  where its zstd frame starts in this file; frame_size its length in bytes
//   stored_size   decompressed length: 32 + committed_bytes, or less when the raw file ended inside
//                 the chunk (then kPackedChunkCut is set and the reader treats it as cut short)
//   tid           the chunk's thread, so the reader groups chunks into threads without decompressing
//   flags         bit 0 kPackedChunkCut; bit 1 kPackedChunkSplit: the frame holds the ChunkHeader and then
//                 the records rearranged into field streams (chunk_split.h), not the records as written;
//                 other bits are zero
//
// PackedFooter (40 bytes):
//
//   byte  0          8         12          16            24             32         36        40
//         +----------+---------+-----------+-------------+--------------+----------+---------+
//         |"MTRPACK1"|version  |chunk_count|index_offset |index_checksum|flags     |reserved |
//         |8 bytes   |u32      |u32        |u64          |u64 FNV-1a    |u32       |u32 = 0  |
//         +----------+---------+-----------+-------------+--------------+----------+---------+
//
//   index_checksum  64-bit FNV-1a of the PackedChunk array's bytes
//   flags           bit 0 kPackedTruncated: the raw trace was already cut short where the reader
//                   lists chunks (chunks_allocated beyond the file's end, or a chunk header cut)
//
// Unused chunks (magic 0) and chunks past the raw file's end are not kept: packing keeps exactly the
// records, end state and `truncated` verdict that reading the raw trace gives. A chunk is read back
// in one piece, so a reader holds at most two decompressed chunks per thread (the record it handed
// out and the one after it) and never the whole trace.
//
// A packed trace is written once, to a temporary file that is renamed over the raw one; nothing
// appends to it afterwards.
#pragma once

#include <cstddef>
#include <cstdint>

#include "format/trace_layout.h"

namespace memtrace::format {

// FileHeader.flags: the chunks follow in packed form (this file), not at kHeaderBytes.
inline constexpr uint32_t kHeaderPacked = 1u << 4;

inline constexpr char kPackedMagic[8] = {'M', 'T', 'R', 'P', 'A', 'C', 'K', '1'};
inline constexpr uint32_t kPackedVersion = 1;

inline constexpr uint32_t kPackedChunkCut = 1u << 0;
inline constexpr uint32_t kPackedChunkSplit = 1u << 1;  // frame holds ChunkHeader + chunk_split.h form
inline constexpr uint32_t kPackedTruncated = 1u << 0;

struct PackedChunk {
  uint64_t raw_offset;
  uint64_t frame_offset;
  uint32_t frame_size;
  uint32_t stored_size;
  uint32_t tid;
  uint32_t flags;
};
static_assert(sizeof(PackedChunk) == 32);

struct PackedFooter {
  char magic[8];
  uint32_t version;
  uint32_t chunk_count;
  uint64_t index_offset;
  uint64_t index_checksum;
  uint32_t flags;
  uint32_t reserved;
};
static_assert(sizeof(PackedFooter) == 40);

inline uint64_t Fnv1a64(const void* data, size_t size) {
  const auto* p = static_cast<const uint8_t*>(data);
  uint64_t hash = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < size; ++i) {
    hash ^= p[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

}  // namespace memtrace::format

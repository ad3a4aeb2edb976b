// A lossless rearrangement of one chunk's record bytes into field streams, applied by the packer before
// zstd (packed_layout.h, kPackedChunkSplit) because zstd finds far more repetition in a column of like
// fields than in records interleaved field by field.
//
// Records are cut where DecodeRecord ends them; each record's bytes go to:
//
//   stream A          its kind and flags bytes (2 bytes)
//   stream T          its time-delta varint, as written
//   stream L          varint: payload length * 2 + 1 if the payload is kept whole, * 2 if split
//   stream (kind, j)  the j-th varint of its payload (j capped at 15), when the payload is a whole
//                     number of varints; otherwise the payload whole in stream (kind, 0)
//   stream R          the bytes after the last record that decodes (a cut or damaged tail), verbatim
//
// In predicted mode, the allocator's addresses (a malloc's result, a free's or realloc's argument) are
// replaced in their (kind, j) stream by a varint code, because as written (a zigzag delta from the
// previous address field) they are the least compressible bytes of a trace:
//
//   block given back   its age: blocks handed out in this chunk since it was (1 = the last one)
//   block handed out   1 = the previous address field; 2 + i = the i-th most recently given back block
//                      of the request's size class (glibc's tcache and fastbins hand those out first)
//   either             0 = not predicted: the varint as written follows in stream M
//
// Call records (not meta ones) have no entry in stream L in predicted mode: their shape and flags say
// how many varints follow. Both directions keep the same per-chunk tables, updated from each record
// after it is decoded.
// The packer joins what it split and keeps the plain mode for a chunk if the bytes differ.
//
// Split form (all integers little-endian):
//
//   u32 mode (0 plain, 1 predicted), u32 record_count, u32 stream_count,
//   stream_count x { u16 key, u32 length }     key: kind << 4 | j for payload streams, then A, T, L, R, M
//   the streams' bytes, in directory order
//
// Joining replays the records in order, so the chunk comes back byte for byte: the reader then decodes
// exactly the bytes the raw trace held (same records, same errors, same byte offsets).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace memtrace::format {

// Appends the split form of the record bytes [data, data + size) (a chunk's committed bytes) to *out.
void SplitChunkRecords(const uint8_t* data, size_t size, uint64_t first_timestamp, std::vector<uint8_t>* out);

// Rebuilds exactly `size` record bytes at `out` from the split form [data, data + length) of a chunk whose
// header says `first_timestamp`. Returns false if the split form is damaged or does not give exactly
// `size` bytes.
bool JoinChunkRecords(const uint8_t* data, size_t length, uint8_t* out, size_t size,
                      uint64_t first_timestamp);

namespace internal {
// JoinChunkRecords without its fast path for plain calls: every record rebuilt and decoded the general
// way. The same result for every input (chunk_split_test.cc compares them); exposed for that test only.
bool JoinChunkRecordsGenerally(const uint8_t* data, size_t length, uint8_t* out, size_t size,
                               uint64_t first_timestamp);
}  // namespace internal

}  // namespace memtrace::format

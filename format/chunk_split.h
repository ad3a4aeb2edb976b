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
// Split form (all integers little-endian):
//
//   u32 record_count, u32 stream_count,
//   stream_count x { u16 key, u32 length }     key: kind << 4 | j for payload streams, then A, T, L, R
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

// Rebuilds exactly `size` record bytes at `out` from the split form [data, data + length). Returns false
// if the split form is damaged or does not give exactly `size` bytes.
bool JoinChunkRecords(const uint8_t* data, size_t length, uint8_t* out, size_t size);

}  // namespace memtrace::format

#include "format/chunk_split.h"

#include <cstring>

#include "format/record_codec.h"

namespace memtrace::format {

namespace {

constexpr uint16_t kPayloadKeys = 256 << 4;
constexpr uint16_t kKeyA = kPayloadKeys;
constexpr uint16_t kKeyT = kPayloadKeys + 1;
constexpr uint16_t kKeyL = kPayloadKeys + 2;
constexpr uint16_t kKeyR = kPayloadKeys + 3;
constexpr uint16_t kKeyCount = kPayloadKeys + 4;

// Length of the varint at [p, end), or 0 if none ends there within kMaxVarintBytes.
size_t VarintLength(const uint8_t* p, const uint8_t* end) {
  for (size_t i = 0; i < kMaxVarintBytes && p + i < end; ++i) {
    if (!(p[i] & 0x80)) return i + 1;
  }
  return 0;
}

void Put32(std::vector<uint8_t>* out, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  out->insert(out->end(), b, b + 4);
}

}  // namespace

void SplitChunkRecords(const uint8_t* data, size_t size, uint64_t first_timestamp,
                       std::vector<uint8_t>* out) {
  // One vector per key, kept between calls (the packer splits chunk after chunk on one thread).
  static thread_local std::vector<std::vector<uint8_t>> streams(kKeyCount);
  for (auto& stream : streams) stream.clear();
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  DeltaState state{first_timestamp, 0};
  Record record;
  static thread_local uint64_t frames[kMaxFrames];
  uint32_t count = 0;
  while (p != end) {
    const uint8_t* start = p;
    if (DecodeRecord(&p, end, state, &record, frames) != DecodeStatus::kOk) {
      p = start;
      break;
    }
    ++count;
    std::vector<uint8_t>& a = streams[kKeyA];
    a.insert(a.end(), start, start + 2);
    const uint8_t* q = start + 2;
    const size_t t = VarintLength(q, p);  // DecodeRecord read it, so it ends inside the record
    streams[kKeyT].insert(streams[kKeyT].end(), q, q + t);
    q += t;
    const uint64_t payload = static_cast<uint64_t>(p - q);
    // Whole varints? Then each goes to its field's stream.
    bool split = true;
    for (const uint8_t* v = q; v != p;) {
      const size_t n = VarintLength(v, p);
      if (n == 0) {
        split = false;
        break;
      }
      v += n;
    }
    uint8_t length[kMaxVarintBytes];
    std::vector<uint8_t>& l = streams[kKeyL];
    l.insert(l.end(), length, PutVarint(length, payload * 2 + (split ? 0 : 1)));
    const uint16_t kind = start[0];
    if (!split) {
      std::vector<uint8_t>& s = streams[static_cast<uint16_t>(kind << 4)];
      s.insert(s.end(), q, p);
      continue;
    }
    for (unsigned j = 0; q != p; ++j) {
      const size_t n = VarintLength(q, p);
      std::vector<uint8_t>& s = streams[static_cast<uint16_t>(kind << 4 | (j < 15 ? j : 15))];
      s.insert(s.end(), q, q + n);
      q += n;
    }
  }
  if (p != end) streams[kKeyR].assign(p, end);
  uint32_t used = 0;
  for (const auto& stream : streams) used += !stream.empty();
  Put32(out, count);
  Put32(out, used);
  for (uint16_t key = 0; key < kKeyCount; ++key) {
    if (streams[key].empty()) continue;
    out->push_back(static_cast<uint8_t>(key));
    out->push_back(static_cast<uint8_t>(key >> 8));
    Put32(out, static_cast<uint32_t>(streams[key].size()));
  }
  for (const auto& stream : streams) out->insert(out->end(), stream.begin(), stream.end());
}

bool JoinChunkRecords(const uint8_t* data, size_t length, uint8_t* out, size_t size) {
  struct Cursor {
    const uint8_t* p = nullptr;
    const uint8_t* end = nullptr;
  };
  static thread_local Cursor cursors[kKeyCount];
  for (Cursor& c : cursors) c = Cursor{};
  if (length < 8) return false;
  uint32_t count, stream_count;
  std::memcpy(&count, data, 4);
  std::memcpy(&stream_count, data + 4, 4);
  if (stream_count > kKeyCount || (length - 8) / 6 < stream_count) return false;
  const uint8_t* directory = data + 8;
  uint64_t offset = 8 + uint64_t{stream_count} * 6;
  for (uint32_t i = 0; i < stream_count; ++i) {
    uint16_t key;
    uint32_t bytes;
    std::memcpy(&key, directory + i * 6, 2);
    std::memcpy(&bytes, directory + i * 6 + 2, 4);
    if (key >= kKeyCount || cursors[key].p || bytes > length - offset) return false;
    cursors[key] = Cursor{data + offset, data + offset + bytes};
    offset += bytes;
  }
  if (offset != length) return false;
  uint8_t* o = out;
  uint8_t* const o_end = out + size;
  // Copies n bytes from a stream to the output, if both have them.
  auto take = [&](Cursor& c, size_t n) {
    if (static_cast<size_t>(c.end - c.p) < n || static_cast<size_t>(o_end - o) < n) return false;
    std::memcpy(o, c.p, n);
    c.p += n;
    o += n;
    return true;
  };
  for (uint32_t i = 0; i < count; ++i) {
    Cursor& a = cursors[kKeyA];
    if (a.end - a.p < 2) return false;
    const uint16_t kind = a.p[0];
    if (!take(a, 2)) return false;
    Cursor& t = cursors[kKeyT];
    const size_t tn = VarintLength(t.p, t.end);
    if (tn == 0 || !take(t, tn)) return false;
    uint64_t coded;
    if (!GetVarint(&cursors[kKeyL].p, cursors[kKeyL].end, &coded)) return false;
    const uint64_t payload = coded >> 1;
    if (payload > static_cast<uint64_t>(o_end - o)) return false;
    if (coded & 1) {
      if (!take(cursors[kind << 4], payload)) return false;
      continue;
    }
    uint8_t* const payload_end = o + payload;
    for (unsigned j = 0; o < payload_end; ++j) {
      Cursor& s = cursors[kind << 4 | (j < 15 ? j : 15)];
      const size_t n = VarintLength(s.p, s.end);
      if (n == 0 || n > static_cast<size_t>(payload_end - o) || !take(s, n)) return false;
    }
  }
  Cursor& r = cursors[kKeyR];
  if (!take(r, static_cast<size_t>(r.end - r.p))) return false;
  return o == o_end;
}

}  // namespace memtrace::format

#include "format/chunk_split.h"

#include <cstring>

#include "format/record_codec.h"
#include "format/split_predictor.h"

namespace memtrace::format {

namespace {

using split_internal::Predictor;

constexpr uint16_t kPayloadKeys = 256 << 4;
constexpr uint16_t kKeyA = kPayloadKeys;
constexpr uint16_t kKeyT = kPayloadKeys + 1;
constexpr uint16_t kKeyL = kPayloadKeys + 2;
constexpr uint16_t kKeyR = kPayloadKeys + 3;
constexpr uint16_t kKeyM = kPayloadKeys + 4;  // address varints the predictor missed, as written
constexpr uint16_t kKeyCount = kPayloadKeys + 5;

constexpr uint32_t kModePlain = 0;      // payload varints copied as written
constexpr uint32_t kModePredicted = 1;  // allocator addresses replaced by prediction codes

// Length of the varint at [p, end), or 0 if none ends there within kMaxVarintBytes.
size_t VarintLength(const uint8_t* p, const uint8_t* end) {
  for (size_t i = 0; i < kMaxVarintBytes && p + i < end; ++i) {
    if (!(p[i] & 0x80)) return i + 1;
  }
  return 0;
}

uint64_t ReadVarint(const uint8_t* p, size_t n) {
  uint64_t v = 0;
  const uint8_t* q = p;
  GetVarint(&q, p + n, &v);
  return v;
}

void Put32(std::vector<uint8_t>* out, uint32_t v) {
  uint8_t b[4];
  std::memcpy(b, &v, 4);
  out->insert(out->end(), b, b + 4);
}

// Which payload varint of a call record is an allocator address, and what kind: a block handed out
// (predicted from the blocks of its size class freed last) or one given back (predicted from the blocks
// handed out in this chunk, by age).
enum class Role : uint8_t { kOther, kHandedOut, kGivenBack };

Role RoleOf(Shape shape, unsigned j) {
  switch (shape) {
    case Shape::kAlloc: return j == 1 ? Role::kHandedOut : Role::kOther;
    case Shape::kArrayAlloc:
    case Shape::kAlignedAlloc: return j == 2 ? Role::kHandedOut : Role::kOther;
    case Shape::kRealloc: return j == 0 ? Role::kGivenBack : j == 2 ? Role::kHandedOut : Role::kOther;
    case Shape::kArrayRealloc: return j == 0 ? Role::kGivenBack : j == 3 ? Role::kHandedOut : Role::kOther;
    case Shape::kRelease: return j == 0 ? Role::kGivenBack : Role::kOther;
    default: return Role::kOther;
  }
}

// The size class of the request, from the payload varints before the address (`values`).
uint64_t RequestClass(Shape shape, const uint64_t* values) {
  switch (shape) {
    case Shape::kAlloc: return RequestToChunkSize(values[0]);
    case Shape::kArrayAlloc: return RequestToChunkSize(values[0] * values[1]);
    case Shape::kAlignedAlloc:
    case Shape::kRealloc: return RequestToChunkSize(values[1]);
    case Shape::kArrayRealloc: return RequestToChunkSize(values[1] * values[2]);
    default: return 0;
  }
}

// Payload varints of a call record, from its shape and flags (EncodeRecord's layout), or -1 for meta
// records, whose payload is not a fixed list of varints. Predicted mode stores no length for call records.
int FieldCount(Shape shape, uint8_t flags) {
  int n;
  switch (shape) {
    case Shape::kAlloc:
    case Shape::kBrk:
    case Shape::kSbrk: n = 2; break;
    case Shape::kArrayAlloc:
    case Shape::kRealloc:
    case Shape::kRelease:
    case Shape::kMunmap:
    case Shape::kMallopt: n = 3; break;
    case Shape::kAlignedAlloc:
    case Shape::kArrayRealloc:
    case Shape::kMprotect: n = 4; break;
    case Shape::kMremap: n = 5; break;
    case Shape::kMmap: n = 7; break;
    default: return -1;
  }
  if (flags & kFlagChunkRead) n += (flags & kFlagMmapped) ? 2 : 1;
  if (flags & kFlagBrkMoved) n += 2;
  if (flags & kFlagHasStack) n += 1;
  return n;
}

// One predictor per thread, reset for each chunk (its tables are large to make and cheap to reset).
Predictor& ChunkPredictor() {
  static thread_local Predictor predictor;
  predictor.Reset();
  return predictor;
}

bool Join(const uint8_t* data, size_t length, uint8_t* out, size_t size, uint64_t first_timestamp,
          bool fast_path = true);

// Splits with or without prediction; returns the split form.
void Split(const uint8_t* data, size_t size, uint64_t first_timestamp, uint32_t mode,
           std::vector<uint8_t>* out) {
  // One vector per key, kept between calls (the packer splits chunk after chunk on one thread).
  static thread_local std::vector<std::vector<uint8_t>> streams(kKeyCount);
  for (auto& stream : streams) stream.clear();
  Predictor& predictor = ChunkPredictor();
  const uint8_t* p = data;
  const uint8_t* end = data + size;
  DeltaState state{first_timestamp, 0};
  Record record;
  static thread_local uint64_t frames[kMaxFrames];
  uint32_t count = 0;
  while (p != end) {
    const uint8_t* start = p;
    const DeltaState before = state;
    if (DecodeRecord(&p, end, state, &record, frames) != DecodeStatus::kOk) {
      p = start;
      state = before;
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
    uint8_t buffer[kMaxVarintBytes];
    const int fields = mode == kModePredicted ? FieldCount(ShapeOf(record.kind), start[1]) : -1;
    if (fields < 0 || !split) {  // (a call record that is not its fields would not join back: plain mode)
      std::vector<uint8_t>& l = streams[kKeyL];
      l.insert(l.end(), buffer, PutVarint(buffer, payload * 2 + (split ? 0 : 1)));
    }
    const uint16_t kind = start[0];
    if (!split) {
      std::vector<uint8_t>& s = streams[static_cast<uint16_t>(kind << 4)];
      s.insert(s.end(), q, p);
      predictor.After(record);
      continue;
    }
    const Shape shape = ShapeOf(record.kind);
    uint64_t values[16] = {};
    uint64_t last = before.last_address;
    for (unsigned j = 0; q != p; ++j) {
      const size_t n = VarintLength(q, p);
      std::vector<uint8_t>& s = streams[static_cast<uint16_t>(kind << 4 | (j < 15 ? j : 15))];
      const Role role = mode == kModePredicted ? RoleOf(shape, j) : Role::kOther;
      if (role == Role::kOther) {
        if (j < 16) values[j] = ReadVarint(q, n);
        s.insert(s.end(), q, q + n);
        q += n;
        continue;
      }
      int64_t delta = 0;
      const uint8_t* v = q;
      GetSignedVarint(&v, q + n, &delta);
      const uint64_t address = last + static_cast<uint64_t>(delta);
      // Only a varint written the one way the codec writes it can be rebuilt from the address.
      const bool canonical =
          static_cast<size_t>(PutSignedVarint(buffer, delta) - buffer) == n && std::memcmp(buffer, q, n) == 0;
      uint64_t code = 0;
      if (canonical) {
        code = role == Role::kGivenBack ? predictor.GivenBackCode(address)
                                        : predictor.HandedOutCode(address, last, RequestClass(shape, values));
      }
      s.insert(s.end(), buffer, PutVarint(buffer, code));
      if (code == 0) streams[kKeyM].insert(streams[kKeyM].end(), q, q + n);
      last = address;
      q += n;
    }
    predictor.After(record);
  }
  if (p != end) streams[kKeyR].assign(p, end);
  uint32_t used = 0;
  for (const auto& stream : streams) used += !stream.empty();
  Put32(out, mode);
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

bool Join(const uint8_t* data, size_t length, uint8_t* out, size_t size, uint64_t first_timestamp,
          bool fast_path) {
  struct Cursor {
    const uint8_t* p = nullptr;
    const uint8_t* end = nullptr;
  };
  static thread_local Cursor cursors[kKeyCount];
  for (Cursor& c : cursors) c = Cursor{};
  if (length < 12) return false;
  uint32_t mode, count, stream_count;
  std::memcpy(&mode, data, 4);
  std::memcpy(&count, data + 4, 4);
  std::memcpy(&stream_count, data + 8, 4);
  if (mode > kModePredicted || stream_count > kKeyCount || (length - 12) / 6 < stream_count) return false;
  const uint8_t* directory = data + 12;
  uint64_t offset = 12 + uint64_t{stream_count} * 6;
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
  Predictor& predictor = ChunkPredictor();
  DeltaState state{first_timestamp, 0};
  Record record;
  static thread_local uint64_t frames[kMaxFrames];
  uint8_t* o = out;
  uint8_t* const o_end = out + size;
  // Copies n bytes from a stream to the output, if both have them.
  auto take = [&](Cursor& c, size_t n) {
    if (static_cast<size_t>(c.end - c.p) < n || static_cast<size_t>(o_end - o) < n) return false;
    if (n == 0) return true;     // an absent stream's cursor is null: memcpy must not see it
    if (n <= kMaxVarintBytes) {  // most takes are one varint: a call to memcpy costs more than the copy
      for (size_t i = 0; i < n; ++i) o[i] = c.p[i];
    } else {
      std::memcpy(o, c.p, n);
    }
    c.p += n;
    o += n;
    return true;
  };
  // Copies one varint from a stream to the output and returns its value.
  auto take_varint = [&](Cursor& c, uint64_t* value) {
    const uint8_t* from = c.p;
    if (!GetVarint(&c.p, c.end, value)) return false;
    const size_t n = static_cast<size_t>(c.p - from);
    if (static_cast<size_t>(o_end - o) < n) return false;
    for (size_t i = 0; i < n; ++i) o[i] = from[i];
    o += n;
    return true;
  };
  // Writes a predicted address field: from its code in stream c and the predictor, or (code 0) as written
  // in stream M. `last` is the previous address field; returns the address in *address.
  auto take_address = [&](Cursor& c, Role role, uint64_t size_class, uint64_t last, uint64_t* address) {
    uint64_t code;
    if (!GetVarint(&c.p, c.end, &code)) return false;
    if (code == 0) {
      uint64_t zigzag;
      if (!take_varint(cursors[kKeyM], &zigzag)) return false;
      *address = last + static_cast<uint64_t>(ZigZagDecode(zigzag));
      return true;
    }
    const bool found = role == Role::kGivenBack ? predictor.GivenBackAddress(code, address)
                                                : predictor.HandedOutAddress(code, last, size_class, address);
    if (!found) return false;
    uint8_t buffer[kMaxVarintBytes];
    const size_t n =
        static_cast<size_t>(PutSignedVarint(buffer, static_cast<int64_t>(*address - last)) - buffer);
    if (static_cast<size_t>(o_end - o) < n) return false;
    for (size_t k = 0; k < n; ++k) o[k] = buffer[k];
    o += n;
    return true;
  };
  for (uint32_t i = 0; i < count; ++i) {
    uint8_t* const record_start = o;
    Cursor& a = cursors[kKeyA];
    if (a.end - a.p < 2) return false;
    const uint16_t kind = a.p[0];
    const uint8_t flags = a.p[1];
    if (!take(a, 2)) return false;
    uint64_t time_delta;
    if (!take_varint(cursors[kKeyT], &time_delta)) return false;
    bool known = false;
    const Shape shape = ShapeOf(static_cast<RecordKind>(kind), &known);
    // Plain allocations and releases (most of every trace) are rebuilt field by field, and the delta state
    // and predictor moved from the fields, without decoding the rebuilt record again: the same bytes and
    // state as the general path below, which every other record takes.
    if (fast_path && mode == kModePredicted && (shape == Shape::kAlloc || shape == Shape::kRelease) &&
        known && !(flags & ~kKnownFlags)) {
      Cursor* field = &cursors[kind << 4];
      const bool allocation = shape == Shape::kAlloc;
      uint64_t size = 0, alignment = 0, address = 0, chunk_delta = 0, unused = 0;
      const uint64_t last = state.last_address;
      bool ok = allocation
                    ? take_varint(field[0], &size) &&
                          take_address(field[1], Role::kHandedOut, RequestToChunkSize(size), last, &address)
                    : take_address(field[0], Role::kGivenBack, 0, last, &address) &&
                          take_varint(field[1], &size) && take_varint(field[2], &alignment);
      unsigned j = allocation ? 2 : 3;
      if (flags & kFlagChunkRead) {
        ok = ok && take_varint(field[j++], &chunk_delta);
        if (flags & kFlagMmapped) ok = ok && take_varint(field[j++], &unused);
      }
      if (flags & kFlagBrkMoved) {
        ok = ok && take_varint(field[j], &unused) && take_varint(field[j + 1], &unused);
        j += 2;
      }
      if (flags & kFlagHasStack) ok = ok && take_varint(field[j], &unused);
      if (!ok) return false;
      state.last_timestamp += time_delta;
      state.last_address = address;
      if (allocation) {
        predictor.HandOut(address, RequestToChunkSize(size));
      } else {
        predictor.GiveBack(address,
                           (flags & kFlagChunkRead) ? static_cast<uint64_t>(ZigZagDecode(chunk_delta)) : 0);
      }
      continue;
    }
    const int fields = mode == kModePredicted && known ? FieldCount(shape, flags) : -1;
    uint64_t coded = 0;
    if (fields < 0) {
      if (!GetVarint(&cursors[kKeyL].p, cursors[kKeyL].end, &coded)) return false;
      if ((coded >> 1) > static_cast<uint64_t>(o_end - o)) return false;
    }
    if (coded & 1) {
      if (!take(cursors[kind << 4], coded >> 1)) return false;
    } else {
      uint64_t values[16] = {};
      uint64_t last = state.last_address;
      // A call record in predicted mode ends after its fields; anything else after its stored length.
      uint8_t* const payload_end = fields < 0 ? o + (coded >> 1) : o_end;
      for (unsigned j = 0; fields < 0 ? o < payload_end : j < static_cast<unsigned>(fields); ++j) {
        Cursor& s = cursors[kind << 4 | (j < 15 ? j : 15)];
        const Role role = mode == kModePredicted && known ? RoleOf(shape, j) : Role::kOther;
        if (role == Role::kOther) {
          const size_t n = VarintLength(s.p, s.end);
          if (n == 0 || n > static_cast<size_t>(payload_end - o)) return false;
          if (j < 16) values[j] = ReadVarint(s.p, n);
          if (!take(s, n)) return false;
          continue;
        }
        // An address field: only call records have them, whose payload ends with the output.
        uint64_t address;
        if (!take_address(s, role, RequestClass(shape, values), last, &address)) return false;
        if (j < 16) values[j] = 0;
        last = address;
      }
      if (fields < 0 && o != payload_end) return false;
    }
    // The record as rebuilt, decoded: it moves the delta state and the predictor exactly as splitting did.
    // Decoded against the whole output buffer, not just the record, so that plain calls take
    // DecodeRecord's unchecked fast path; a record that does not end exactly at `o` is refused either way.
    const uint8_t* cursor = record_start;
    if (DecodeRecord(&cursor, o_end, state, &record, frames) != DecodeStatus::kOk || cursor != o)
      return false;
    predictor.After(record);
  }
  Cursor& r = cursors[kKeyR];
  if (!take(r, static_cast<size_t>(r.end - r.p))) return false;
  return o == o_end;
}

}  // namespace

void SplitChunkRecords(const uint8_t* data, size_t size, uint64_t first_timestamp,
                       std::vector<uint8_t>* out) {
  const size_t start = out->size();
  Split(data, size, first_timestamp, kModePredicted, out);
  // The predicted form is checked by joining it back; should it ever not give the same bytes, the plain
  // split (which copies every varint) is kept instead.
  static thread_local std::vector<uint8_t> check;
  check.resize(size);
  if (!Join(out->data() + start, out->size() - start, check.data(), size, first_timestamp) ||
      std::memcmp(check.data(), data, size) != 0) {
    out->resize(start);
    Split(data, size, first_timestamp, kModePlain, out);
  }
}

bool JoinChunkRecords(const uint8_t* data, size_t length, uint8_t* out, size_t size,
                      uint64_t first_timestamp) {
  return Join(data, length, out, size, first_timestamp);
}

namespace internal {

bool JoinChunkRecordsGenerally(const uint8_t* data, size_t length, uint8_t* out, size_t size,
                               uint64_t first_timestamp) {
  return Join(data, length, out, size, first_timestamp, /*fast_path=*/false);
}

}  // namespace internal

}  // namespace memtrace::format

#include "format/record_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace memtrace::format {
namespace {

struct KindCase {
  RecordKind kind;
  const char* id;  // the enumerator, for test names
};

// Every kind the format defines, straight from the X-macros: a kind added there is tested here.
constexpr KindCase kAllKinds[] = {
#define MEMTRACE_KIND_CASE(name, ...) {RecordKind::name, #name},
    MEMTRACE_CALL_KINDS(MEMTRACE_KIND_CASE) MEMTRACE_META_KINDS(MEMTRACE_KIND_CASE)
#undef MEMTRACE_KIND_CASE
};

// Storage a sample record's pointers refer to; lives as long as the test.
struct Payload {
  std::vector<uint64_t> frames;
  std::string text;
  std::vector<uint8_t> build_id;
};

// Fills exactly the fields `kind`'s wire layout carries (record_codec.h), with values wide enough to
// need multi-byte varints; everything else stays zero so a decoder writing a stray field is caught.
// `seed` varies the values so consecutive records have deltas of both signs.
// Returns false for a kind this test does not know how to fill.
bool FillSample(RecordKind kind, uint64_t seed, Payload& payload, Record* r) {
  *r = Record{};
  r->kind = kind;
  const uint64_t high = 0x7fff'f000'0000 + seed * 0x1010;  // a stack-like address
  const uint64_t low = 0x55'0000'1000 + seed * 0x40;       // a heap-like address
  switch (ShapeOf(kind)) {
    case Shape::kAlloc: r->size = 0x12345 + seed, r->address = seed % 2 ? high : low; return true;
    case Shape::kArrayAlloc: r->count = 1000 + seed, r->size = 24, r->address = low; return true;
    case Shape::kAlignedAlloc:
      r->alignment = 4096, r->size = 100000 + seed, r->address = high, r->result = seed % 2 ? 0 : 12;
      return true;
    case Shape::kRealloc: r->old_address = high, r->size = 7 + seed, r->address = low; return true;
    case Shape::kArrayRealloc:
      r->old_address = low, r->count = 3, r->size = 1ull << 40, r->address = high;
      return true;
    case Shape::kRelease: r->address = seed % 2 ? low : high, r->size = 48, r->alignment = 64; return true;
    case Shape::kMmap:
      r->old_address = 0, r->size = 1 << 21, r->prot = 3, r->map_flags = 0x22, r->fd = -1,
      r->offset = 1ull << 33, r->address = ~uint64_t{0};  // MAP_FAILED
      return true;
    case Shape::kMunmap: r->address = high, r->size = 8192, r->result = -1; return true;
    case Shape::kMremap:
      r->old_address = high, r->old_size = 4096, r->size = 1 << 20, r->map_flags = 1, r->address = low;
      return true;
    case Shape::kMprotect: r->address = low, r->size = 4096, r->prot = 1, r->result = 0; return true;
    case Shape::kBrk: r->old_address = low + 0x21000, r->result = -1; return true;
    case Shape::kSbrk: r->param = -0x21000, r->address = low; return true;
    case Shape::kMallopt: r->param = -8, r->value = 1 << 20, r->result = 1; return true;
    case Shape::kMeta: break;
  }
  switch (kind) {
    case RecordKind::kStackDef:
      payload.frames = {0x5555'5555'1234, 0x7fff'0000'0010, 0x401000, 0x401000, 0xffff'ffff'ffff'fff0};
      r->stack_id = static_cast<uint32_t>(70000 + seed);
      r->frame_count = static_cast<uint32_t>(payload.frames.size());
      r->frames = payload.frames.data();
      return true;
    case RecordKind::kModule:
      payload.text = "/usr/lib/x86_64-linux-gnu/" + std::string(200, 'l') + ".so";  // length needs 2 bytes
      payload.build_id = {0xde, 0xad, 0xbe, 0xef, 0x00, 0x01};
      r->address = high, r->size = 1 << 22;
      r->bytes = reinterpret_cast<const uint8_t*>(payload.text.data());
      r->byte_count = static_cast<uint32_t>(payload.text.size());
      r->build_id = payload.build_id.data();
      r->build_id_count = static_cast<uint32_t>(payload.build_id.size());
      return true;
    case RecordKind::kProcessEnd:
      r->param = static_cast<int64_t>(EndReason::kSignal), r->result = 11;
      return true;
    case RecordKind::kDropped: r->count = 300 + seed; return true;
    case RecordKind::kEnvironment:
      payload.text = "MALLOC_ARENA_MAX=2";
      r->bytes = reinterpret_cast<const uint8_t*>(payload.text.data());
      r->byte_count = static_cast<uint32_t>(payload.text.size());
      return true;
    case RecordKind::kThreadStart: r->tid = 4000000 + static_cast<uint32_t>(seed); return true;
    case RecordKind::kLeakClass:
      r->address = seed % 2 ? high : low, r->param = static_cast<int64_t>(LeakClass::kIndirect);
      return true;
    case RecordKind::kLeakScan:
      r->count = 100000 + seed, r->size = 1ull << 33, r->param = 123456789;
      return true;
    case RecordKind::kStartupBreakMove:  // the break can move either way: test it going down
      r->brk_before = low + 0x21000, r->brk_after = low;
      return true;
    default:
      if (static_cast<uint8_t>(kind) >= kFirstGenericMetaKind) {  // the shared generic layout: every field
        payload.text = "/usr/lib/x86_64-linux-gnu/libc.so.6";
        r->address = seed % 2 ? high : low, r->size = 8392704, r->old_size = 4096, r->prot = 5;
        r->map_flags = 2, r->offset = 0x1d000, r->count = 1234567 + seed, r->param = -3;
        r->bytes = reinterpret_cast<const uint8_t*>(payload.text.data());
        r->byte_count = static_cast<uint32_t>(payload.text.size());
        return true;
      }
      return false;
  }
}

// Sets `flags` on a call record and fills the trailing fields each flag brings.
void ApplyFlags(uint8_t flags, Record* r) {
  r->flags = flags;
  if (flags & kFlagChunkRead) {
    // Deliberately not the expected size, in both directions, so the delta is non-trivial.
    const uint64_t expected = ExpectedChunkSize(*r);
    r->chunk_size = (flags & kFlagMmapped) ? expected + 4096 : expected - 16;
    if (flags & kFlagMmapped) r->chunk_offset = 16;
  }
  if (flags & kFlagBrkMoved) r->brk_before = 0x55'0002'1000, r->brk_after = 0x55'0000'0000;
  if (flags & kFlagHasStack) r->stack_id = 123456;
}

std::string Bytes(const uint8_t* p, uint32_t n) {
  return n ? std::string(reinterpret_cast<const char*>(p), n) : "";
}

void ExpectSameRecord(const Record& want, const Record& got) {
  SCOPED_TRACE(std::string("kind ") + NameOf(want.kind) + " flags " + std::to_string(want.flags));
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.flags, want.flags);
  EXPECT_EQ(got.timestamp, want.timestamp);
  EXPECT_EQ(got.address, want.address);
  EXPECT_EQ(got.old_address, want.old_address);
  EXPECT_EQ(got.size, want.size);
  EXPECT_EQ(got.old_size, want.old_size);
  EXPECT_EQ(got.count, want.count);
  EXPECT_EQ(got.alignment, want.alignment);
  EXPECT_EQ(got.prot, want.prot);
  EXPECT_EQ(got.map_flags, want.map_flags);
  EXPECT_EQ(got.offset, want.offset);
  EXPECT_EQ(got.fd, want.fd);
  EXPECT_EQ(got.result, want.result);
  EXPECT_EQ(got.param, want.param);
  EXPECT_EQ(got.value, want.value);
  EXPECT_EQ(got.chunk_size, want.chunk_size);
  EXPECT_EQ(got.chunk_offset, want.chunk_offset);
  EXPECT_EQ(got.brk_before, want.brk_before);
  EXPECT_EQ(got.brk_after, want.brk_after);
  EXPECT_EQ(got.stack_id, want.stack_id);
  EXPECT_EQ(got.tid, want.tid);
  ASSERT_EQ(got.frame_count, want.frame_count);
  for (uint32_t i = 0; i < want.frame_count; ++i) EXPECT_EQ(got.frames[i], want.frames[i]) << "frame " << i;
  EXPECT_EQ(Bytes(got.bytes, got.byte_count), Bytes(want.bytes, want.byte_count));
  EXPECT_EQ(Bytes(got.build_id, got.build_id_count), Bytes(want.build_id, want.build_id_count));
}

std::vector<uint8_t> EncodeOne(const Record& r, DeltaState state = {}) {
  std::vector<uint8_t> out(EncodedBound(r));
  uint8_t* end = EncodeRecord(out.data(), state, r);
  EXPECT_LE(static_cast<size_t>(end - out.data()), out.size()) << "EncodedBound too small";
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

// Decodes exactly one record filling all of `bytes`, in a heap buffer of exactly that size so a read past
// the end is a sanitizer error rather than a silent success.
DecodeStatus DecodeExact(const std::vector<uint8_t>& bytes, Record* r, uint64_t* frames, size_t* consumed) {
  std::unique_ptr<uint8_t[]> copy(new uint8_t[bytes.empty() ? 1 : bytes.size()]);
  DeltaState state;
  if (!bytes.empty()) std::memcpy(copy.get(), bytes.data(), bytes.size());
  const uint8_t* cursor = copy.get();
  DecodeStatus status = DecodeRecord(&cursor, copy.get() + bytes.size(), state, r, frames);
  *consumed = static_cast<size_t>(cursor - copy.get());
  // Pointers into `copy` die with it; keep the test from reading them afterwards.
  if (r->bytes) r->bytes = nullptr, r->byte_count = 0;
  if (r->build_id) r->build_id = nullptr, r->build_id_count = 0;
  return status;
}

class RecordCodecKindTest : public ::testing::TestWithParam<KindCase> {};

INSTANTIATE_TEST_SUITE_P(AllKinds, RecordCodecKindTest, ::testing::ValuesIn(kAllKinds),
                         [](const ::testing::TestParamInfo<KindCase>& info) {
                           return std::string(info.param.id);
                         });

// Flag combinations a kind is tested with: all 32 for calls; meta records carry no flag fields.
std::vector<uint8_t> FlagSets(RecordKind kind) {
  std::vector<uint8_t> sets;
  for (unsigned f = 0; f <= kKnownFlags; ++f) {
    if (IsMeta(kind) && f != 0) break;
    sets.push_back(static_cast<uint8_t>(f));
  }
  return sets;
}

TEST_P(RecordCodecKindTest, RoundTripsWithEveryFlagCombination) {
  const RecordKind kind = GetParam().kind;
  for (uint8_t flags : FlagSets(kind)) {
    Payload payload;
    Record in;
    ASSERT_TRUE(FillSample(kind, 1, payload, &in))
        << "no sample for new kind " << GetParam().id << ": teach FillSample its fields";
    if (!IsMeta(kind)) ApplyFlags(flags, &in);
    in.timestamp = 1'000'000'123;
    const DeltaState start{1'000'000'000, 0x55'0000'0000};
    std::vector<uint8_t> bytes = EncodeOne(in, start);
    const size_t size = bytes.size();
    // Exactly sized, and followed by room (continuation bytes), which lets DecodeRecord take its
    // unchecked fast path for plain allocations and releases.
    for (size_t padding : {size_t{0}, size_t{100}}) {
      bytes.resize(size + padding, 0x80);
      // Decoded in place: strings point into `bytes`, which outlives the comparison.
      Record out;
      uint64_t frames[kMaxFrames];
      DeltaState state = start;
      const uint8_t* cursor = bytes.data();
      ASSERT_EQ(DecodeRecord(&cursor, bytes.data() + bytes.size(), state, &out, frames), DecodeStatus::kOk)
          << "flags " << int{flags} << " padding " << padding;
      EXPECT_EQ(cursor, bytes.data() + size) << "flags " << int{flags};
      ExpectSameRecord(in, out);
      EXPECT_EQ(state.last_timestamp, in.timestamp);
    }
  }
}

TEST_P(RecordCodecKindTest, SequenceWithAddressesGoingUpAndDown) {
  const RecordKind kind = GetParam().kind;
  // One buffer, one running DeltaState: each record's deltas depend on the one before.
  std::vector<Payload> payloads(6);
  std::vector<Record> records(payloads.size());
  const uint64_t addresses[] = {0, ~uint64_t{0}, 0x1000, 0x7fff'ffff'f000, 0x10, 0x8000'0000'0000'0000};
  const uint64_t time_steps[] = {0, 1, 0, 1ull << 40, 127, 128};
  uint64_t now = 5;
  for (size_t i = 0; i < records.size(); ++i) {
    ASSERT_TRUE(FillSample(kind, i, payloads[i], &records[i]));
    // Overwrite whichever address fields the shape has, to force big deltas of both signs.
    if (records[i].address) records[i].address = addresses[i];
    if (records[i].old_address) records[i].old_address = addresses[(i + 3) % 6];
    if (!IsMeta(kind)) ApplyFlags(i % 2 ? kKnownFlags : 0, &records[i]);
    now += time_steps[i];
    records[i].timestamp = now;
  }
  std::vector<uint8_t> bytes;
  DeltaState writer{};
  for (const Record& r : records) {
    std::vector<uint8_t> one(EncodedBound(r));
    one.resize(static_cast<size_t>(EncodeRecord(one.data(), writer, r) - one.data()));
    bytes.insert(bytes.end(), one.begin(), one.end());
  }
  DeltaState reader{};
  const uint8_t* cursor = bytes.data();
  const uint8_t* end = bytes.data() + bytes.size();
  for (const Record& want : records) {
    Record got;
    uint64_t frames[kMaxFrames];
    ASSERT_EQ(DecodeRecord(&cursor, end, reader, &got, frames), DecodeStatus::kOk);
    ExpectSameRecord(want, got);
  }
  EXPECT_EQ(cursor, end);
  Record extra;
  uint64_t frames[kMaxFrames];
  EXPECT_EQ(DecodeRecord(&cursor, end, reader, &extra, frames), DecodeStatus::kTruncated);
}

TEST_P(RecordCodecKindTest, CutAtEveryByteIsTruncated) {
  const RecordKind kind = GetParam().kind;
  for (uint8_t flags : FlagSets(kind)) {
    Payload payload;
    Record in;
    ASSERT_TRUE(FillSample(kind, 3, payload, &in));
    if (!IsMeta(kind)) ApplyFlags(flags, &in);
    in.timestamp = 1ull << 50;
    const std::vector<uint8_t> full = EncodeOne(in);
    for (size_t cut = 0; cut < full.size(); ++cut) {
      Record out;
      uint64_t frames[kMaxFrames];
      size_t consumed = 99;
      std::vector<uint8_t> prefix(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut));
      EXPECT_EQ(DecodeExact(prefix, &out, frames, &consumed), DecodeStatus::kTruncated)
          << NameOf(kind) << " flags " << int{flags} << " cut at " << cut << " of " << full.size();
      EXPECT_EQ(consumed, 0u) << "cursor moved on failure";
    }
  }
}

// DecodeBlockCall must read every record exactly as DecodeRecord does: same status, cursor and delta
// state, and the block facts DecodeRecord's Record implies; whole and cut at every byte.
TEST_P(RecordCodecKindTest, BlockCallDecodingAgreesWithDecodeRecord) {
  const RecordKind kind = GetParam().kind;
  for (uint8_t flags : FlagSets(kind)) {
    Payload payload;
    Record in;
    ASSERT_TRUE(FillSample(kind, 2, payload, &in));
    if (!IsMeta(kind)) ApplyFlags(flags, &in);
    in.timestamp = 1'000'000'777;
    const DeltaState start{1'000'000'000, 0x55'0000'0000};
    const std::vector<uint8_t> full = EncodeOne(in, start);
    // Cut at every byte, whole, and whole with 100 bytes of continuation bytes after it (the room that
    // sends DecodeBlockCall down its unchecked path; a byte read past the record would show).
    for (size_t cut = 0; cut <= full.size() + 1; ++cut) {
      size_t size = cut <= full.size() ? cut : full.size() + 100;
      std::unique_ptr<uint8_t[]> bytes(new uint8_t[size + 1]);  // exactly sized: over-reads are ASan errors
      std::memset(bytes.get(), 0x80, size + 1);
      std::memcpy(bytes.get(), full.data(), std::min(cut, full.size()));
      const uint8_t* end = bytes.get() + size;
      Record record, scratch;
      uint64_t frames[kMaxFrames];
      BlockCall call;
      DeltaState by_record = start, by_call = start;
      const uint8_t* record_cursor = bytes.get();
      const uint8_t* call_cursor = bytes.get();
      DecodeStatus want = DecodeRecord(&record_cursor, end, by_record, &record, frames);
      ASSERT_EQ(DecodeBlockCall(&call_cursor, end, by_call, &call, &scratch, frames), want)
          << NameOf(kind) << " flags " << int{flags} << " cut " << cut;
      ASSERT_EQ(call_cursor, record_cursor);
      ASSERT_EQ(by_call.last_timestamp, by_record.last_timestamp);
      ASSERT_EQ(by_call.last_address, by_record.last_address);
      if (want != DecodeStatus::kOk) continue;
      Shape shape = ShapeOf(kind);
      bool array = shape == Shape::kArrayAlloc || shape == Shape::kArrayRealloc;
      bool yields = YieldsBlock(kind) && record.address;
      EXPECT_EQ(call.kind, record.kind);
      EXPECT_EQ(call.flags, record.flags);
      EXPECT_EQ(call.timestamp, record.timestamp);
      EXPECT_EQ(call.yields, yields);
      EXPECT_EQ(call.releases, shape == Shape::kRelease);
      EXPECT_EQ(call.address, yields || shape == Shape::kRelease ? record.address : 0);
      EXPECT_EQ(call.bytes, yields ? (array ? record.count * record.size : record.size) : 0);
    }
  }
}

Record StackRecord(const std::vector<uint64_t>& frames) {
  Record r;
  r.kind = RecordKind::kStackDef;
  r.timestamp = 42;
  r.stack_id = 9;
  r.frame_count = static_cast<uint32_t>(frames.size());
  r.frames = frames.data();
  return r;
}

TEST(RecordCodecTest, StackRecordsWithZeroOneAndMaxFrames) {
  std::vector<uint64_t> many(kMaxFrames);
  for (size_t i = 0; i < many.size(); ++i) {
    // Return addresses jump between the executable, libraries and back: deltas of both signs.
    many[i] = (i % 3 == 0 ? 0x401000 : i % 3 == 1 ? 0x7f12'3456'0000 : 0x5555'0000'0000) + i * 0x11;
  }
  for (const std::vector<uint64_t>& frames :
       {std::vector<uint64_t>{}, std::vector<uint64_t>{0x401234}, many}) {
    const Record in = StackRecord(frames);
    const std::vector<uint8_t> bytes = EncodeOne(in);
    EXPECT_LE(bytes.size(), kMaxRecordBytes);
    Record out;
    uint64_t buffer[kMaxFrames];
    size_t consumed = 0;
    ASSERT_EQ(DecodeExact(bytes, &out, buffer, &consumed), DecodeStatus::kOk) << frames.size() << " frames";
    EXPECT_EQ(consumed, bytes.size());
    ExpectSameRecord(in, out);
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      std::vector<uint8_t> prefix(bytes.begin(), bytes.begin() + static_cast<ptrdiff_t>(cut));
      ASSERT_EQ(DecodeExact(prefix, &out, buffer, &consumed), DecodeStatus::kTruncated)
          << frames.size() << " frames, cut at " << cut;
    }
  }
}

TEST(RecordCodecTest, TooManyFramesIsCorrupt) {
  std::vector<uint64_t> frames(kMaxFrames + 1, 0x401000);
  std::vector<uint8_t> bytes = EncodeOne(StackRecord(frames));
  Record out;
  uint64_t buffer[kMaxFrames];
  size_t consumed = 0;
  EXPECT_EQ(DecodeExact(bytes, &out, buffer, &consumed), DecodeStatus::kCorrupt);
}

TEST(RecordCodecTest, OverlongStringIsCorrupt) {
  std::string text(kMaxMetaBytes + 1, 'x');
  Record r;
  r.kind = RecordKind::kEnvironment;
  r.bytes = reinterpret_cast<const uint8_t*>(text.data());
  r.byte_count = static_cast<uint32_t>(text.size());
  Record out;
  uint64_t frames[kMaxFrames];
  size_t consumed = 0;
  EXPECT_EQ(DecodeExact(EncodeOne(r), &out, frames, &consumed), DecodeStatus::kCorrupt);
  r.byte_count = static_cast<uint32_t>(kMaxMetaBytes);  // the longest legal string still decodes
  EXPECT_EQ(DecodeExact(EncodeOne(r), &out, frames, &consumed), DecodeStatus::kOk);
}

TEST(RecordCodecTest, UnknownKindIsCorrupt) {
  std::set<int> known;
  for (const KindCase& k : kAllKinds) known.insert(static_cast<int>(k.kind));
  for (int kind = 0; kind < 256; ++kind) {
    // A body long enough for any known kind, so only the kind byte can make it fail.
    std::vector<uint8_t> bytes(64, 0x00);
    bytes[0] = static_cast<uint8_t>(kind);
    Record out;
    uint64_t frames[kMaxFrames];
    size_t consumed = 0;
    DecodeStatus status = DecodeExact(bytes, &out, frames, &consumed);
    if (known.count(kind)) {
      EXPECT_EQ(status, DecodeStatus::kOk) << "kind " << kind;
    } else {
      EXPECT_EQ(status, DecodeStatus::kCorrupt) << "kind " << kind;
      EXPECT_EQ(consumed, 0u);
    }
  }
}

TEST(RecordCodecTest, UnknownFlagBitsAreCorrupt) {
  Payload payload;
  Record in;
  ASSERT_TRUE(FillSample(RecordKind::kMalloc, 0, payload, &in));
  std::vector<uint8_t> bytes = EncodeOne(in);
  for (unsigned bit = 0; bit < 8; ++bit) {
    const uint8_t flag = static_cast<uint8_t>(1u << bit);
    if (flag & kKnownFlags) continue;
    bytes[1] = flag;
    Record out;
    uint64_t frames[kMaxFrames];
    size_t consumed = 0;
    EXPECT_EQ(DecodeExact(bytes, &out, frames, &consumed), DecodeStatus::kCorrupt) << "flag bit " << bit;
  }
}

TEST(RecordCodecTest, OverLongVarintInsideRecordIsCorrupt) {
  // malloc: time delta, size, address; the size is eleven continuation bytes, well before the end.
  std::vector<uint8_t> bytes = {static_cast<uint8_t>(RecordKind::kMalloc), 0, 0x05};
  bytes.insert(bytes.end(), 11, 0x80);
  bytes.push_back(0x00);
  bytes.insert(bytes.end(), 20, 0x00);
  Record out;
  uint64_t frames[kMaxFrames];
  size_t consumed = 0;
  EXPECT_EQ(DecodeExact(bytes, &out, frames, &consumed), DecodeStatus::kCorrupt);
}

TEST(RecordCodecTest, ChunkSizeIsStoredAsDeltaFromExpected) {
  // The common case (glibc served the request plainly) must cost one byte: that is the point of the delta.
  Record r;
  r.kind = RecordKind::kMalloc;
  r.size = 1000;
  r.address = 0x1000;
  r.flags = kFlagChunkRead;
  r.chunk_size = RequestToChunkSize(1000);
  const size_t plain = EncodeOne(r).size();
  r.flags = 0;
  EXPECT_EQ(plain, EncodeOne(r).size() + 1);
  EXPECT_EQ(RequestToChunkSize(0), 32u);
  EXPECT_EQ(RequestToChunkSize(24), 32u);
  EXPECT_EQ(RequestToChunkSize(25), 48u);
  EXPECT_EQ(RequestToChunkSize(1000), 1008u);
}

}  // namespace
}  // namespace memtrace::format

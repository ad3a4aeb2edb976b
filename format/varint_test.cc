#include "format/varint.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace memtrace::format {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr int64_t kI64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kI64Max = std::numeric_limits<int64_t>::max();

std::vector<uint8_t> Encode(uint64_t value) {
  std::vector<uint8_t> out(kMaxVarintBytes + 4, 0xee);  // poison past the end to catch overruns
  uint8_t* end = PutVarint(out.data(), value);
  out.resize(static_cast<size_t>(end - out.data()));
  return out;
}

// Decodes `bytes` expecting every byte to be consumed.
bool DecodeAll(const std::vector<uint8_t>& bytes, uint64_t* value) {
  const uint8_t* cursor = bytes.data();
  const uint8_t* end = bytes.data() + bytes.size();
  return GetVarint(&cursor, end, value) && cursor == end;
}

TEST(VarintTest, KnownEncodingsAtLengthBoundaries) {
  struct Case {
    uint64_t value;
    std::vector<uint8_t> bytes;
  };
  const Case cases[] = {
      {0, {0x00}},
      {1, {0x01}},
      {127, {0x7f}},
      {128, {0x80, 0x01}},
      {300, {0xac, 0x02}},
      {16383, {0xff, 0x7f}},
      {16384, {0x80, 0x80, 0x01}},
      {uint64_t{1} << 63, {0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
      {kU64Max, {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Encode(c.value), c.bytes) << "value " << c.value;
    uint64_t decoded = 0;
    ASSERT_TRUE(DecodeAll(c.bytes, &decoded)) << "value " << c.value;
    EXPECT_EQ(decoded, c.value);
  }
}

TEST(VarintTest, RoundTripsEveryBitLength) {
  for (unsigned bits = 0; bits <= 64; ++bits) {
    const uint64_t top = bits == 64 ? kU64Max : (uint64_t{1} << bits) - 1;
    for (uint64_t value : {top, top + 1, top - 1, top / 3}) {
      std::vector<uint8_t> bytes = Encode(value);
      EXPECT_LE(bytes.size(), kMaxVarintBytes);
      uint64_t decoded = ~value;
      ASSERT_TRUE(DecodeAll(bytes, &decoded)) << "value " << value;
      EXPECT_EQ(decoded, value);
    }
  }
}

TEST(VarintTest, DecodesSequenceAndAdvancesCursor) {
  std::vector<uint8_t> bytes;
  for (uint64_t v : {uint64_t{5}, uint64_t{128}, kU64Max}) {
    std::vector<uint8_t> one = Encode(v);
    bytes.insert(bytes.end(), one.begin(), one.end());
  }
  const uint8_t* cursor = bytes.data();
  const uint8_t* end = bytes.data() + bytes.size();
  uint64_t v = 0;
  ASSERT_TRUE(GetVarint(&cursor, end, &v));
  EXPECT_EQ(v, 5u);
  EXPECT_EQ(cursor, bytes.data() + 1);
  ASSERT_TRUE(GetVarint(&cursor, end, &v));
  EXPECT_EQ(v, 128u);
  EXPECT_EQ(cursor, bytes.data() + 3);
  ASSERT_TRUE(GetVarint(&cursor, end, &v));
  EXPECT_EQ(v, kU64Max);
  EXPECT_EQ(cursor, end);
  EXPECT_FALSE(GetVarint(&cursor, end, &v));
}

TEST(VarintTest, TruncatedEncodingIsRejectedAndCursorKept) {
  for (uint64_t value : {uint64_t{128}, uint64_t{1} << 35, uint64_t{1} << 63, kU64Max}) {
    const std::vector<uint8_t> full = Encode(value);
    for (size_t cut = 0; cut < full.size(); ++cut) {
      const uint8_t* cursor = full.data();
      uint64_t decoded = 12345;
      EXPECT_FALSE(GetVarint(&cursor, full.data() + cut, &decoded)) << "value " << value << " cut " << cut;
      EXPECT_EQ(cursor, full.data());
      EXPECT_EQ(decoded, 12345u);  // untouched on failure
    }
  }
}

TEST(VarintTest, OverLongEncodingIsRejected) {
  uint64_t v = 0;
  // Eleven bytes: the tenth still says "more follows".
  std::vector<uint8_t> eleven(10, 0x80);
  eleven.push_back(0x00);
  EXPECT_FALSE(DecodeAll(eleven, &v));
  // Ten bytes whose last carries bits beyond 64.
  std::vector<uint8_t> too_wide(9, 0xff);
  too_wide.push_back(0x02);
  EXPECT_FALSE(DecodeAll(too_wide, &v));
  too_wide.back() = 0x7f;
  EXPECT_FALSE(DecodeAll(too_wide, &v));
  // The widest legal tenth byte is 1.
  too_wide.back() = 0x01;
  EXPECT_TRUE(DecodeAll(too_wide, &v));
  EXPECT_EQ(v, kU64Max);
}

// The unchecked reader agrees with GetVarint on every encoding GetVarint accepts or rejects, given ten
// readable bytes: values of every length, over-long encodings, and bits beyond 64.
TEST(VarintTest, UncheckedReadAgreesWithGetVarint) {
  std::vector<std::vector<uint8_t>> inputs;
  for (unsigned bits = 0; bits <= 64; ++bits) {
    uint64_t value = bits == 64 ? kU64Max : (uint64_t{1} << bits) - 1;
    std::vector<uint8_t> buffer(kMaxVarintBytes);
    buffer.resize(static_cast<size_t>(PutVarint(buffer.data(), value) - buffer.data()));
    inputs.push_back(buffer);
  }
  inputs.push_back(std::vector<uint8_t>(kMaxVarintBytes, 0x80));                   // never ends
  inputs.push_back({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02});  // bit 64 set
  inputs.push_back({0x80, 0x80, 0x00});                                            // padded zero
  for (const auto& input : inputs) {
    std::vector<uint8_t> room(input);
    room.resize(kMaxVarintBytes, 0x80);
    const uint8_t* checked = room.data();
    const uint8_t* unchecked = room.data();
    uint64_t want = 1, got = 2;
    bool ok = GetVarint(&checked, room.data() + room.size(), &want);
    ASSERT_EQ(GetVarintUnchecked(&unchecked, &got), ok);
    if (ok) {
      EXPECT_EQ(got, want);
      EXPECT_EQ(unchecked, checked);
    }
  }
}

// The same with whatever follows the encoding (the next field's bytes): values of random widths, each
// followed by random bytes, read back in sequence.
TEST(VarintTest, UncheckedReadIgnoresTheBytesAfterTheEncoding) {
  std::mt19937_64 random(7);
  std::vector<uint8_t> bytes;
  std::vector<uint64_t> values;
  for (int i = 0; i < 100'000; ++i) {
    unsigned width = static_cast<unsigned>(random() % 65);
    uint64_t value = width == 64 ? random() : random() & ((uint64_t{1} << width) - 1);
    values.push_back(value);
    size_t at = bytes.size();
    bytes.resize(at + kMaxVarintBytes);
    bytes.resize(static_cast<size_t>(PutVarint(bytes.data() + at, value) - bytes.data()));
  }
  size_t encoded = bytes.size();
  for (size_t i = 0; i < kMaxVarintBytes; ++i) bytes.push_back(static_cast<uint8_t>(random()));
  const uint8_t* cursor = bytes.data();
  for (uint64_t want : values) {
    uint64_t got = 0;
    ASSERT_TRUE(GetVarintUnchecked(&cursor, &got));
    ASSERT_EQ(got, want);
  }
  EXPECT_EQ(cursor, bytes.data() + encoded);
}

TEST(ZigZagTest, KnownMappings) {
  EXPECT_EQ(ZigZagEncode(0), 0u);
  EXPECT_EQ(ZigZagEncode(-1), 1u);
  EXPECT_EQ(ZigZagEncode(1), 2u);
  EXPECT_EQ(ZigZagEncode(-2), 3u);
  EXPECT_EQ(ZigZagEncode(kI64Max), kU64Max - 1);
  EXPECT_EQ(ZigZagEncode(kI64Min), kU64Max);
  EXPECT_EQ(ZigZagDecode(kU64Max), kI64Min);
  EXPECT_EQ(ZigZagDecode(kU64Max - 1), kI64Max);
  EXPECT_EQ(ZigZagDecode(3), -2);
}

TEST(ZigZagTest, SignedVarintRoundTrip) {
  const int64_t values[] = {0, 1, -1, 63, -64, 64, -65, 1 << 20, -(1 << 20), kI64Max, kI64Min, kI64Min + 1};
  for (int64_t value : values) {
    uint8_t buffer[kMaxVarintBytes];
    uint8_t* end = PutSignedVarint(buffer, value);
    const uint8_t* cursor = buffer;
    int64_t decoded = ~value;
    ASSERT_TRUE(GetSignedVarint(&cursor, end, &decoded)) << value;
    EXPECT_EQ(decoded, value);
    EXPECT_EQ(cursor, end);
  }
}

TEST(ZigZagTest, SmallDeltasOfEitherSignStayOneByte) {
  uint8_t buffer[kMaxVarintBytes];
  EXPECT_EQ(PutSignedVarint(buffer, -64) - buffer, 1);
  EXPECT_EQ(PutSignedVarint(buffer, 63) - buffer, 1);
  EXPECT_EQ(PutSignedVarint(buffer, 64) - buffer, 2);
  EXPECT_EQ(PutSignedVarint(buffer, kI64Min) - buffer, 10);
}

TEST(ZigZagTest, TruncatedSignedVarintIsRejected) {
  uint8_t buffer[kMaxVarintBytes];
  uint8_t* end = PutSignedVarint(buffer, kI64Min);
  const uint8_t* cursor = buffer;
  int64_t decoded = 7;
  EXPECT_FALSE(GetSignedVarint(&cursor, end - 1, &decoded));
  EXPECT_EQ(cursor, buffer);
  EXPECT_EQ(decoded, 7);
}

}  // namespace
}  // namespace memtrace::format

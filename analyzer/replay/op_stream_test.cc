#include "analyzer/replay/op_stream.h"

#include <gtest/gtest.h>

#include <vector>

namespace memtrace::replay {
namespace {

TEST(OpStreamTest, EveryKindRoundTrips) {
  std::vector<Op> ops;
  ops.push_back({OpKind::kMalloc, kOpVerdictKnown, 7, 0, 100, 0, 0});
  ops.push_back({OpKind::kCalloc, kOpVerdictKnown | kOpMmapped, 8, 0, 5000000, 0, 0});
  ops.push_back({OpKind::kAligned, kOpWaits, 1u << 30, 123456, 3000000, 65536, 0});
  ops.push_back({OpKind::kRealloc, kOpBrkMoved, 9, 0, 1 << 20, 0, -(61 << 12)});
  ops.push_back({OpKind::kFree, kOpWaits | kOpBrkMoved, 9, 4, 0, 0, 135168});
  ops.push_back({OpKind::kSpawn, 0, 3, 0, 0, 0, 0});
  ops.push_back({OpKind::kMallopt, 0, 0, 0, 0, 0, 0, -3, 65536});  // M_MMAP_THRESHOLD
  ops.push_back({OpKind::kMallocTrim, kOpBrkMoved, 0, 0, 0, 0, -(33 << 12), 0, 1});
  ops.push_back({OpKind::kSbrk, kOpBrkMoved, 0, 0, 0, 0, -8192, -8192, 0});
  std::vector<uint8_t> bytes(ops.size() * kMaxOpBytes);
  uint8_t* end = bytes.data();
  for (const Op& op : ops) end = EncodeOp(end, op);
  const uint8_t* cursor = bytes.data();
  for (const Op& expected : ops) {
    Op op;
    ASSERT_TRUE(DecodeOp(&cursor, end, &op));
    EXPECT_EQ(op.kind, expected.kind);
    EXPECT_EQ(op.flags, expected.flags);
    EXPECT_EQ(op.slot, expected.slot);
    EXPECT_EQ(op.sequence, expected.sequence);
    EXPECT_EQ(op.size, expected.size);
    EXPECT_EQ(op.alignment, expected.alignment);
    EXPECT_EQ(op.brk_delta, expected.brk_delta);
    EXPECT_EQ(op.param, expected.param);
    EXPECT_EQ(op.value, expected.value);
  }
  EXPECT_EQ(cursor, end);
}

TEST(OpStreamTest, DamageIsRefused) {
  Op op{OpKind::kAligned, kOpWaits, 5, 9, 4096, 64, 0};
  uint8_t bytes[kMaxOpBytes];
  uint8_t* end = EncodeOp(bytes, op);
  for (uint8_t* cut = bytes; cut < end; ++cut) {
    const uint8_t* cursor = bytes;
    Op decoded;
    EXPECT_FALSE(DecodeOp(&cursor, cut, &decoded)) << "cut at " << (cut - bytes);
  }
  bytes[0] = 0;  // no such kind
  const uint8_t* cursor = bytes;
  Op decoded;
  EXPECT_FALSE(DecodeOp(&cursor, end, &decoded));
  bytes[0] = static_cast<uint8_t>(OpKind::kSbrk) + 1;
  cursor = bytes;
  EXPECT_FALSE(DecodeOp(&cursor, end, &decoded));
}

TEST(OpStreamTest, ProcessOpsNeverWait) {
  Op op{OpKind::kMallopt, 0, 0, 0, 0, 0, 0, -1, 1 << 20};
  uint8_t bytes[kMaxOpBytes];
  uint8_t* end = EncodeOp(bytes, op);
  bytes[1] = kOpWaits;
  const uint8_t* cursor = bytes;
  Op decoded;
  EXPECT_FALSE(DecodeOp(&cursor, end, &decoded));
}

}  // namespace
}  // namespace memtrace::replay

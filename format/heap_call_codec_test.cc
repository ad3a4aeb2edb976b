// The plain-call fast paths (heap_call_codec.h) against the general codec (record_codec.h). Their
// decoding side is held to DecodeRecord in record_codec_test.cc (BlockCallDecodingAgreesWithDecodeRecord).
#include "format/heap_call_codec.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

#include "format/record_codec.h"

namespace memtrace::format {
namespace {

// The hooks' fast encoders must write exactly what EncodeRecord writes for the same call, or the reader
// (which only knows EncodeRecord's layout) would misread every fast-path record.
TEST(HeapCallCodecTest, FastEncodersWriteEncodeRecordsBytes) {
  std::mt19937_64 random(7);
  const RecordKind allocations[] = {RecordKind::kMalloc, RecordKind::kValloc, RecordKind::kNew,
                                    RecordKind::kNewArray};
  const RecordKind releases[] = {RecordKind::kFree, RecordKind::kDelete, RecordKind::kDeleteAligned,
                                 RecordKind::kDeleteArray};
  DeltaState fast_state{1'000, 0}, slow_state{1'000, 0};
  uint64_t now = 1'000;
  for (int i = 0; i < 20'000; ++i) {
    uint64_t r = random();
    now += r % 4 == 0 ? r >> 40 : r % 200;  // mostly short gaps, sometimes long ones
    Record record;
    record.timestamp = now;
    record.address = 0x5555'0000'0000 + ((r >> 8) % 0x100000) * 16;
    record.flags = static_cast<uint8_t>((r & 1 ? kFlagChunkRead : 0) | (r & 2 ? kFlagNonMainArena : 0) |
                                        (r & 4 ? kFlagHasStack : 0));
    record.stack_id = static_cast<uint32_t>(r >> 33);
    uint8_t fast[kFastRecordBytes];
    uint8_t* fast_end;
    if (r & 8) {
      record.kind = allocations[(r >> 4) % 4];
      record.size = (r >> 20) % (r & 16 ? 300 : 1'000'000);
      record.chunk_size = RequestToChunkSize(record.size) + (r & 32 ? 16 : 0);
      fast_end = EncodeHeapAllocation(fast, fast_state, record.kind, record.flags, now, record.size,
                                      record.address, record.chunk_size, record.stack_id);
    } else {
      record.kind = releases[(r >> 4) % 4];
      record.flags &= kFlagHasStack;
      record.size = r & 16 ? (r >> 20) % 5000 : 0;
      record.alignment = r & 32 ? 64 : 0;
      fast_end = EncodeHeapRelease(fast, fast_state, record.kind, record.flags, now, record.address,
                                   record.size, record.alignment, record.stack_id);
    }
    std::vector<uint8_t> slow(EncodedBound(record));
    slow.resize(static_cast<size_t>(EncodeRecord(slow.data(), slow_state, record) - slow.data()));
    ASSERT_LE(static_cast<size_t>(fast_end - fast), kFastRecordBytes);
    ASSERT_EQ(std::vector<uint8_t>(fast, fast_end), slow) << "record " << i;
    ASSERT_EQ(fast_state.last_timestamp, slow_state.last_timestamp);
    ASSERT_EQ(fast_state.last_address, slow_state.last_address);
  }
}

}  // namespace
}  // namespace memtrace::format

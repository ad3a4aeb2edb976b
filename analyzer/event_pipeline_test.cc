// EventPipeline hands out exactly what TraceReader::Next gives, in the same order, with frames and
// strings that stay valid while their batch is held; it stops where the reader stops, with the same
// verdict, and can be abandoned half way.
#include "analyzer/event_pipeline.h"

#include <gtest/gtest.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/reader_records.h"
#include "tests/support/trace_builder.h"

namespace memtrace::analyzer {
namespace {

using format::Event;
using format::Record;
using format::RecordKind;
using format::TraceReader;
using test_support::TraceBuilder;

// An event with what it points to, comparable after the pointers are gone.
struct Copy {
  uint32_t tid;
  RecordKind kind;
  uint64_t timestamp, address, size;
  uint32_t stack_id;
  std::vector<uint64_t> frames;
  std::string bytes, build_id;
  bool operator==(const Copy&) const = default;
};

Copy CopyOf(const Event& e) {
  return {e.tid,
          e.kind,
          e.timestamp,
          e.address,
          e.size,
          e.stack_id,
          std::vector<uint64_t>(e.frames, e.frames + e.frame_count),
          std::string(reinterpret_cast<const char*>(e.bytes), e.byte_count),
          std::string(reinterpret_cast<const char*>(e.build_id), e.build_id_count)};
}

// Three threads of calls, with stack definitions and module records (frames, a path and a build id)
// spread through them: several batches' worth.
TraceBuilder ThreeThreads(int records_per_thread) {
  static const char path[] = "/usr/lib/x86_64-linux-gnu/libc.so.6";
  static const uint8_t build_id[] = {0xde, 0xad, 0xbe, 0xef};
  static uint64_t frames[64];
  for (size_t i = 0; i < 64; ++i) frames[i] = 0x401000 + i * 0x40;
  TraceBuilder b(65536);
  std::mt19937_64 rng(5);
  for (int i = 0; i < records_per_thread; ++i) {
    for (uint32_t tid = 1; tid <= 3; ++tid) {
      const uint64_t t = 10 + uint64_t(i) * 10 + tid;
      Record r;
      if (i % 97 == 0) {
        r.kind = RecordKind::kStackDef;
        r.timestamp = t, r.stack_id = static_cast<uint32_t>(i + tid);
        r.frames = frames, r.frame_count = static_cast<uint32_t>(1 + rng() % 64);
      } else if (i % 211 == 0) {
        r.kind = RecordKind::kModule;
        r.timestamp = t, r.address = 0x7f0000000000 + uint64_t(i) * 0x10000, r.size = 0x1000;
        r.bytes = reinterpret_cast<const uint8_t*>(path), r.byte_count = sizeof path - 1 - rng() % 10;
        r.build_id = build_id, r.build_id_count = sizeof build_id;
      } else if (i % 2) {
        r = format::reader_test::Release(RecordKind::kFree, t, 0x555555550000 + (rng() % 4096) * 0x40);
      } else {
        r = format::reader_test::Malloc(t, 0x555555550000 + (rng() % 4096) * 0x40, 16 + rng() % 240);
      }
      b.Add(tid, r);
    }
  }
  return b;
}

std::vector<Copy> ReadDirectly(const std::vector<uint8_t>& file, std::string* error) {
  std::string open_error;
  auto reader = TraceReader::FromBytes(file.data(), file.size(), &open_error);
  EXPECT_TRUE(reader) << open_error;
  std::vector<Copy> copies;
  Event event;
  while (reader->Next(&event)) copies.push_back(CopyOf(event));
  *error = reader->error();
  return copies;
}

TEST(EventPipelineTest, SameEventsAsTheReaderInTheSameOrder) {
  const std::vector<uint8_t> file = ThreeThreads(3000).Build();
  std::string direct_error;
  const std::vector<Copy> direct = ReadDirectly(file, &direct_error);
  ASSERT_EQ(direct.size(), 9000u);
  std::string error;
  EventPipeline pipeline(TraceReader::FromBytes(file.data(), file.size(), &error));
  std::vector<Copy> piped;
  size_t batches = 0;
  for (auto batch = pipeline.NextBatch(); !batch.empty(); batch = pipeline.NextBatch()) {
    ++batches;
    for (const Event& event : batch) piped.push_back(CopyOf(event));
  }
  EXPECT_GT(batches, 4u);  // more batches than circulate: each was given back and refilled
  EXPECT_EQ(piped, direct);
  EXPECT_EQ(pipeline.reader().records_read(), 9000u);
  EXPECT_TRUE(pipeline.reader().error().empty());
  EXPECT_TRUE(pipeline.NextBatch().empty());  // the end stays the end
}

// While the caller holds a batch, the reader thread fills every other one: the held batch's events and
// what they point to do not change.
TEST(EventPipelineTest, HeldBatchStaysValidWhileTheReaderRunsAhead) {
  const std::vector<uint8_t> file = ThreeThreads(3000).Build();
  std::string error;
  EventPipeline pipeline(TraceReader::FromBytes(file.data(), file.size(), &error));
  for (auto batch = pipeline.NextBatch(); !batch.empty(); batch = pipeline.NextBatch()) {
    std::vector<Copy> before;
    for (const Event& event : batch) before.push_back(CopyOf(event));
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    std::vector<Copy> after;
    for (const Event& event : batch) after.push_back(CopyOf(event));
    ASSERT_EQ(before, after);
  }
}

TEST(EventPipelineTest, StopsWhereTheReaderStopsWithItsError) {
  TraceBuilder builder = ThreeThreads(2000);
  builder.AddRawBytes(0, {0xfe, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a});
  const std::vector<uint8_t> file = builder.Build();
  std::string direct_error;
  const std::vector<Copy> direct = ReadDirectly(file, &direct_error);
  ASSERT_FALSE(direct_error.empty());
  std::string error;
  EventPipeline pipeline(TraceReader::FromBytes(file.data(), file.size(), &error));
  std::vector<Copy> piped;
  for (auto batch = pipeline.NextBatch(); !batch.empty(); batch = pipeline.NextBatch()) {
    for (const Event& event : batch) piped.push_back(CopyOf(event));
  }
  EXPECT_EQ(piped, direct);
  EXPECT_EQ(pipeline.reader().error(), direct_error);
}

TEST(EventPipelineTest, AbandonedHalfWayStopsTheReaderThread) {
  const std::vector<uint8_t> file = ThreeThreads(3000).Build();
  for (int taken = 0; taken < 4; ++taken) {
    std::string error;
    EventPipeline pipeline(TraceReader::FromBytes(file.data(), file.size(), &error));
    for (int i = 0; i < taken; ++i) ASSERT_FALSE(pipeline.NextBatch().empty());
    // Destroyed here, with the reader thread waiting for a batch to be given back (or still filling).
  }
}

TEST(EventPipelineTest, TraceWithoutRecordsGivesNoBatch) {
  TraceBuilder builder;
  builder.AddUnusedChunk();
  const std::vector<uint8_t> file = builder.Build();
  std::string error;
  auto reader = TraceReader::FromBytes(file.data(), file.size(), &error);
  ASSERT_TRUE(reader) << error;
  EventPipeline pipeline(std::move(reader));
  EXPECT_TRUE(pipeline.NextBatch().empty());
  EXPECT_EQ(pipeline.reader().records_read(), 0u);
}

}  // namespace
}  // namespace memtrace::analyzer

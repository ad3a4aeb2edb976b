#include "format/trace_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "tests/support/reader_records.h"
#include "tests/support/trace_builder.h"

namespace memtrace::format {
namespace {

using namespace reader_test;
using test_support::TraceBuilder;
using test_support::WriteTempTrace;

TEST(TraceReaderTest, MergesThreadsByTimestamp) {
  TraceBuilder builder;
  // Each thread's records are in its own chunk; the merged order interleaves them.
  builder.Add(1, Malloc(10, 0x1000));
  builder.Add(1, Malloc(40, 0x2000));
  builder.Add(1, Malloc(41, 0x3000));
  builder.Add(2, Malloc(20, 0x9000));
  builder.Add(2, Release(RecordKind::kFree, 50, 0x1000));
  builder.Add(3, Mmap(5, 0x7f00'0000'0000, 1 << 20));
  builder.Add(3, Mmap(45, 0x7f00'0010'0000, 1 << 20));
  std::string error;
  const std::vector<uint8_t> file = builder.Build();
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(reader->thread_count(), 3u);
  const std::vector<Key> want = {
      KeyOf(3, Mmap(5, 0x7f00'0000'0000, 1 << 20)),
      KeyOf(1, Malloc(10, 0x1000)),
      KeyOf(2, Malloc(20, 0x9000)),
      KeyOf(1, Malloc(40, 0x2000)),
      KeyOf(1, Malloc(41, 0x3000)),
      KeyOf(3, Mmap(45, 0x7f00'0010'0000, 1 << 20)),
      KeyOf(2, Release(RecordKind::kFree, 50, 0x1000)),
  };
  EXPECT_EQ(ReadAll(*reader), want);
  EXPECT_EQ(reader->records_read(), want.size());
  EXPECT_TRUE(reader->error().empty()) << reader->error();
  EXPECT_FALSE(reader->truncated());
}

TEST(TraceReaderTest, ReleasesComeBeforeAllocationsOnEqualTimestamps) {
  // Thread 1 (the first stream, so it would win a plain tie) allocates what thread 2 frees at the same
  // instant: the free must sort first, whichever release kind it is.
  for (RecordKind release : {RecordKind::kFree, RecordKind::kDelete, RecordKind::kDeleteArrayAligned,
                             RecordKind::kReallocRelease}) {
    TraceBuilder builder;
    builder.Add(1, Malloc(100, 0x5000));
    builder.Add(2, Release(release, 100, 0x5000));
    builder.Add(1, Malloc(200, 0x6000));
    builder.Add(2, Release(release, 200, 0x6000));
    std::string error;
    const std::vector<uint8_t> file = builder.Build();
    auto reader = Read(file, &error);
    ASSERT_TRUE(reader) << error;
    const std::vector<Key> want = {
        KeyOf(2, Release(release, 100, 0x5000)),
        KeyOf(1, Malloc(100, 0x5000)),
        KeyOf(2, Release(release, 200, 0x6000)),
        KeyOf(1, Malloc(200, 0x6000)),
    };
    EXPECT_EQ(ReadAll(*reader), want) << NameOf(release);
  }
}

TEST(TraceReaderTest, ThreadSpreadOverSeveralChunks) {
  TraceBuilder builder;
  // Two threads filling chunks alternately, so each thread's chunks are interleaved with the other's.
  for (uint64_t i = 0; i < 3000; ++i) {
    builder.Add(static_cast<uint32_t>(1 + i % 2), Malloc(1000 + i, 0x10000 + ((i * 7919) % 4096) * 64, i));
  }
  ASSERT_GE(builder.chunk_count(), 6u) << "the test needs several chunks per thread";
  std::string error;
  const std::vector<uint8_t> file = builder.Build();
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(reader->thread_count(), 2u);
  EXPECT_EQ(ReadAll(*reader), ExpectedOrder(builder));
  EXPECT_EQ(reader->records_read(), 3000u);
  EXPECT_TRUE(reader->error().empty()) << reader->error();
}

TEST(TraceReaderTest, UnusedChunkIsSkipped) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.AddUnusedChunk();  // a thread took it and died before writing its header
  builder.Add(2, Malloc(2, 0x2000));
  ASSERT_EQ(builder.chunk_count(), 3u);
  std::string error;
  const std::vector<uint8_t> file = builder.Build();
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(ReadAll(*reader), ExpectedOrder(builder));
  EXPECT_EQ(reader->thread_count(), 2u);
  EXPECT_TRUE(reader->error().empty()) << reader->error();
  EXPECT_FALSE(reader->truncated());
}

TEST(TraceReaderTest, ChunksPastChunksAllocatedAreIgnored) {
  // The writer counts a chunk before writing it; whatever lies past the count was never handed out.
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.Add(2, Malloc(2, 0x2000));
  builder.header().chunks_allocated = 1;
  std::string error;
  const std::vector<uint8_t> file = builder.Build();
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(ReadAll(*reader), std::vector<Key>{KeyOf(1, Malloc(1, 0x1000))});
}

TEST(TraceReaderTest, HeaderOnlyTraceHasNoRecords) {
  TraceBuilder builder;
  std::vector<uint8_t> file = builder.Build();
  ASSERT_EQ(file.size(), kHeaderBytes);
  std::string error;
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  Event e;
  EXPECT_FALSE(reader->Next(&e));
  EXPECT_EQ(reader->thread_count(), 0u);
  EXPECT_FALSE(reader->truncated());
  EXPECT_EQ(reader->header().pid, 4242u);
}

TEST(TraceReaderTest, HeaderStringsAreTerminatedEvenIfTheFileIsNot) {
  TraceBuilder builder;
  std::memset(builder.header().program, 'p', sizeof builder.header().program);
  std::memset(builder.header().command_line, 'c', sizeof builder.header().command_line);
  std::memset(builder.header().allocator, 'a', sizeof builder.header().allocator);
  std::string error;
  const std::vector<uint8_t> file = builder.Build();
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(std::strlen(reader->header().program), sizeof(FileHeader::program) - 1);
  EXPECT_EQ(std::strlen(reader->header().command_line), sizeof(FileHeader::command_line) - 1);
  EXPECT_EQ(std::strlen(reader->header().allocator), sizeof(FileHeader::allocator) - 1);
}

TEST(TraceReaderTest, StackFramesAndStringsSurviveTheReadAhead) {
  // The reader decodes each thread one record ahead; the event it hands out must not see the next
  // record's frames.
  const std::vector<uint64_t> first = {0x401000, 0x7f00'0000'1000, 0x401200};
  const std::vector<uint64_t> second = {0xdead, 0xbeef};
  const std::string path = "/lib/libfoo.so";
  TraceBuilder builder;
  Record stack;
  stack.kind = RecordKind::kStackDef;
  stack.timestamp = 5;
  stack.stack_id = 1;
  stack.frame_count = static_cast<uint32_t>(first.size());
  stack.frames = first.data();
  builder.Add(1, stack);
  stack.timestamp = 6;
  stack.stack_id = 2;
  stack.frame_count = static_cast<uint32_t>(second.size());
  stack.frames = second.data();
  builder.Add(1, stack);
  Record module;
  module.kind = RecordKind::kModule;
  module.timestamp = 7;
  module.address = 0x7f00'0000'0000;
  module.bytes = reinterpret_cast<const uint8_t*>(path.data());
  module.byte_count = static_cast<uint32_t>(path.size());
  builder.Add(1, module);
  const std::vector<uint8_t> file = builder.Build();
  std::string error;
  auto reader = Read(file, &error);
  ASSERT_TRUE(reader) << error;
  Event e;
  ASSERT_TRUE(reader->Next(&e));
  EXPECT_EQ(e.stack_id, 1u);
  ASSERT_EQ(e.frame_count, first.size());
  EXPECT_EQ(std::vector<uint64_t>(e.frames, e.frames + e.frame_count), first);
  ASSERT_TRUE(reader->Next(&e));
  EXPECT_EQ(std::vector<uint64_t>(e.frames, e.frames + e.frame_count), second);
  ASSERT_TRUE(reader->Next(&e));
  EXPECT_EQ(e.kind, RecordKind::kModule);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(e.bytes), e.byte_count), path);
  EXPECT_FALSE(reader->Next(&e));
}

// A trace with everything the truncation test should cross: three threads, several chunks each, an
// unused chunk, meta records with frames and strings. Timestamps never tie across threads except for a
// release/allocation pair, whose order the reader defines.
TraceBuilder MixedTrace(const std::vector<uint64_t>& frames, const std::string& path) {
  TraceBuilder builder;
  Record module;
  module.kind = RecordKind::kModule;
  module.timestamp = 1;
  module.address = 0x7f00'0000'0000;
  module.bytes = reinterpret_cast<const uint8_t*>(path.data());
  module.byte_count = static_cast<uint32_t>(path.size());
  builder.Add(1, module);
  Record stack;
  stack.kind = RecordKind::kStackDef;
  stack.timestamp = 2;
  stack.stack_id = 7;
  stack.frame_count = static_cast<uint32_t>(frames.size());
  stack.frames = frames.data();
  builder.Add(1, stack);
  for (uint64_t i = 0; i < 600; ++i) {
    const uint64_t t = 100 + 4 * i;
    Record m = Malloc(t, 0x5555'0000'0000 + (i % 17) * 0x1000, 24 + i);
    m.flags |= kFlagHasStack;
    m.stack_id = 7;
    builder.Add(1, m);
    builder.Add(2, Release(RecordKind::kFree, t, 0x5555'0000'0000 + ((i + 5) % 17) * 0x1000));
    if (i % 2 == 0) builder.Add(3, Mmap(t + 1, 0x7f00'0000'0000 - i * 0x10000, 0x10000));
    if (i == 200) builder.AddUnusedChunk();
  }
  return builder;
}

TEST(TraceReaderTest, CutAtEveryByteYieldsAPrefixAndSaysTruncated) {
  std::vector<uint64_t> frames(kMaxFrames);
  for (size_t i = 0; i < frames.size(); ++i) frames[i] = 0x401000 + i * 0x30;
  const std::string path(300, 'm');  // long enough that the cut can land inside the string
  const TraceBuilder builder = MixedTrace(frames, path);
  const std::vector<uint8_t> full = builder.Build();
  ASSERT_GE(builder.chunk_count(), 6u);

  std::string error;
  auto whole = Read(full, &error);
  ASSERT_TRUE(whole) << error;
  const std::vector<Key> order = ReadAll(*whole);
  ASSERT_EQ(order, ExpectedOrder(builder));
  ASSERT_FALSE(whole->truncated());

  // Where each record of the merged order ends in the file: the n-th event of a thread is that thread's
  // n-th record added.
  std::map<uint32_t, std::vector<uint64_t>> ends_by_tid;
  for (const auto& p : builder.placed()) ends_by_tid[p.tid].push_back(p.end_offset);
  std::map<uint32_t, size_t> seen;
  std::vector<uint64_t> end_of;
  for (const Key& k : order) end_of.push_back(ends_by_tid[std::get<0>(k)][seen[std::get<0>(k)]++]);

  for (size_t cut = 0; cut < full.size(); ++cut) {
    // An exact-size copy: a read past the cut is out of bounds, not a look at the rest of the file.
    const std::vector<uint8_t> file(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut));
    error.clear();
    auto reader = TraceReader::FromBytes(file.data(), file.size(), &error);
    if (cut < sizeof(kFileMagic)) {
      ASSERT_FALSE(reader) << "cut " << cut;
      ASSERT_NE(error.find("not a memtrace trace"), std::string::npos) << error;
      continue;
    }
    if (cut < sizeof(FileHeader)) {
      ASSERT_FALSE(reader) << "cut " << cut;
      ASSERT_NE(error.find("cut short inside its header"), std::string::npos) << error;
      continue;
    }
    ASSERT_TRUE(reader) << "cut " << cut << ": " << error;
    std::vector<Key> want;
    for (size_t i = 0; i < order.size(); ++i) {
      if (end_of[i] <= cut) want.push_back(order[i]);
    }
    const std::vector<Key> got = ReadAll(*reader);
    ASSERT_EQ(got.size(), want.size()) << "cut " << cut;
    for (size_t i = 0; i < got.size(); ++i) {
      ASSERT_EQ(got[i], want[i]) << "cut " << cut << " event " << i << ": got " << Describe(got[i])
                                 << ", want " << Describe(want[i]);
    }
    ASSERT_TRUE(reader->error().empty()) << "cut " << cut << ": " << reader->error();
    // Truncated exactly when something the writer committed is gone. A cut in the zero tail after the
    // last committed byte loses nothing, and the reader rightly does not complain.
    ASSERT_EQ(reader->truncated(), cut < builder.committed_end()) << "cut " << cut;
  }
}

TEST(TraceReaderTest, CutFileThroughOpenSaysWhereAndWhy) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.Add(1, Malloc(2, 0x2000));
  const std::vector<uint8_t> full = builder.Build();
  // Inside the header: a clear error, prefixed by the path.
  const std::string in_header =
      WriteTempTrace(std::vector<uint8_t>(full.begin(), full.begin() + 100), "cut-header.mtr");
  std::string error;
  EXPECT_FALSE(TraceReader::Open(in_header, &error));
  EXPECT_EQ(error, in_header + ": trace is cut short inside its header; nothing can be read from it");
  unlink(in_header.c_str());
  // Inside the second record: the first survives, and the reader says the file was cut.
  const uint64_t cut = builder.placed()[1].end_offset - 1;
  const std::string in_record = WriteTempTrace(
      std::vector<uint8_t>(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut)), "cut-record.mtr");
  auto reader = TraceReader::Open(in_record, &error);
  unlink(in_record.c_str());
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(ReadAll(*reader), std::vector<Key>{KeyOf(1, Malloc(1, 0x1000))});
  EXPECT_TRUE(reader->truncated());
  EXPECT_TRUE(reader->error().empty()) << reader->error();
}

// Reads `file` expecting a corruption report, either from FromBytes or, when the first records are
// fine, from error() after Next() stops. Returns the message.

}  // namespace
}  // namespace memtrace::format

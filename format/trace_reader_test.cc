#include "format/trace_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "tests/support/trace_builder.h"

namespace memtrace::format {
namespace {

using test_support::TraceBuilder;
using test_support::WriteTempTrace;

Record Malloc(uint64_t timestamp, uint64_t address, uint64_t size = 32) {
  Record r;
  r.kind = RecordKind::kMalloc;
  r.timestamp = timestamp;
  r.address = address;
  r.size = size;
  r.flags = kFlagChunkRead;
  r.chunk_size = RequestToChunkSize(size);
  return r;
}

Record Release(RecordKind kind, uint64_t timestamp, uint64_t address) {
  Record r;
  r.kind = kind;
  r.timestamp = timestamp;
  r.address = address;
  return r;
}

Record Mmap(uint64_t timestamp, uint64_t address, uint64_t length) {
  Record r;
  r.kind = RecordKind::kMmap;
  r.timestamp = timestamp;
  r.address = address;
  r.size = length;
  r.prot = 3;
  r.map_flags = 0x22;
  r.fd = -1;
  return r;
}

// What a test compares: enough to tell any two records of these traces apart.
using Key = std::tuple<uint32_t, RecordKind, uint64_t, uint64_t, uint64_t>;
Key KeyOf(uint32_t tid, const Record& r) { return {tid, r.kind, r.timestamp, r.address, r.size}; }

std::string Describe(const Key& k) {
  return "tid " + std::to_string(std::get<0>(k)) + " " + NameOf(std::get<1>(k)) +
         " t=" + std::to_string(std::get<2>(k)) + " addr=" + std::to_string(std::get<3>(k));
}

std::vector<Key> ReadAll(TraceReader& reader) {
  std::vector<Key> keys;
  Event e;
  while (reader.Next(&e)) keys.push_back(KeyOf(e.tid, e));
  return keys;
}

std::unique_ptr<TraceReader> Read(const std::vector<uint8_t>& file, std::string* error) {
  return TraceReader::FromBytes(file.data(), file.size(), error);
}
// The reader borrows the bytes: reading a temporary would leave it pointing at freed memory.
std::unique_ptr<TraceReader> Read(std::vector<uint8_t>&& file, std::string* error) = delete;

// The order the reader promises: by timestamp, releases first on a tie. Stable, so records of one thread
// with equal timestamps keep their order (the tests never tie two threads otherwise).
std::vector<Key> ExpectedOrder(const TraceBuilder& builder) {
  std::vector<TraceBuilder::Placed> placed = builder.placed();
  std::stable_sort(placed.begin(), placed.end(), [](const auto& a, const auto& b) {
    const bool a_release = ShapeOf(a.record.kind) == Shape::kRelease;
    const bool b_release = ShapeOf(b.record.kind) == Shape::kRelease;
    return std::tie(a.record.timestamp, b_release) < std::tie(b.record.timestamp, a_release);
  });
  std::vector<Key> keys;
  for (const auto& p : placed) keys.push_back(KeyOf(p.tid, p.record));
  return keys;
}

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
std::string CorruptionError(const std::vector<uint8_t>& file, size_t* records_before = nullptr) {
  std::string error;
  auto reader = Read(file, &error);
  if (!reader) return error;
  const size_t n = ReadAll(*reader).size();
  if (records_before) *records_before = n;
  return reader->error();
}

TEST(TraceReaderCorruptionTest, DamagedChunkMagic) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.Add(2, Malloc(2, 0x2000));
  builder.chunk_header(1).magic = 0xdeadbeef;
  const std::string error = CorruptionError(builder.Build());
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  EXPECT_NE(error.find("chunk 1"), std::string::npos) << error;
}

TEST(TraceReaderCorruptionTest, CommittedBytesPastTheChunk) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.chunk_header(0).committed_bytes = 4096 - sizeof(ChunkHeader) + 1;
  const std::string error = CorruptionError(builder.Build());
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  EXPECT_NE(error.find("chunk 0"), std::string::npos) << error;
}

TEST(TraceReaderCorruptionTest, GarbageAfterGoodRecords) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.Add(1, Malloc(2, 0x2000));
  builder.Add(2, Malloc(3, 0x3000));
  builder.AddRawBytes(0, {0xfe, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a});
  size_t records = 0;
  const std::string error = CorruptionError(builder.Build(), &records);
  EXPECT_NE(error.find("trace is corrupt: undecodable record"), std::string::npos) << error;
  EXPECT_NE(error.find("thread 1"), std::string::npos) << error;
  // Everything before the garbage is still delivered; reading stops at the damage, so thread 2's later
  // record is not.
  EXPECT_EQ(records, 2u);
}

TEST(TraceReaderCorruptionTest, GarbageAsFirstRecordFailsOpen) {
  TraceBuilder builder;
  builder.StartChunk(9, 100);
  builder.AddRawBytes(0, std::vector<uint8_t>(16, 0xff));
  const std::vector<uint8_t> file = builder.Build();
  std::string error;
  EXPECT_FALSE(Read(file, &error));
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
}

TEST(TraceReaderCorruptionTest, RecordOverrunningAnUncutChunk) {
  // committed_bytes covers half a record although the file is whole: the writer never does that.
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  Record big = Malloc(2, 0x7fff'ffff'0000, 1ull << 40);
  std::vector<uint8_t> bytes(EncodedBound(big));
  DeltaState state{1, 0x1000};
  bytes.resize(static_cast<size_t>(EncodeRecord(bytes.data(), state, big) - bytes.data()) - 2);
  builder.AddRawBytes(0, bytes);
  size_t records = 0;
  const std::string error = CorruptionError(builder.Build(), &records);
  EXPECT_NE(error.find("corrupt"), std::string::npos) << error;
  EXPECT_EQ(records, 1u);
}

std::string HeaderError(void (*damage)(FileHeader&)) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  damage(builder.header());
  const std::vector<uint8_t> file = builder.Build();
  std::string error;
  EXPECT_FALSE(Read(file, &error));
  return error;
}

TEST(TraceReaderHeaderTest, BadMagic) {
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.magic[0] = 'X'; }),
            "not a memtrace trace (no MEMTRACE signature at the start)");
}

TEST(TraceReaderHeaderTest, FutureVersion) {
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.version = kFormatVersion + 1; }),
            "trace has format version " + std::to_string(kFormatVersion + 1) + ", newer than the " +
                std::to_string(kFormatVersion) + " this memtrace reads; use a newer memtrace");
}

TEST(TraceReaderHeaderTest, VersionZero) {
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.version = 0; }), "trace header is corrupt (format version 0)");
}

TEST(TraceReaderHeaderTest, OtherMachine) {
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.machine = 183; }),  // EM_AARCH64
            "trace was written on another architecture (ELF machine 183); this memtrace reads x86-64 traces");
}

TEST(TraceReaderHeaderTest, ImpossibleSizes) {
  const std::string want = "trace header is corrupt (impossible header or chunk size)";
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.header_bytes = 8192; }), want);
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.chunk_bytes = 0; }), want);
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.chunk_bytes = 4096 + 16; }), want);
  EXPECT_EQ(HeaderError([](FileHeader& h) { h.chunk_bytes = 128u << 20; }), want);
}

TEST(TraceReaderHeaderTest, EmptyInput) {
  std::string error;
  EXPECT_FALSE(TraceReader::FromBytes(nullptr, 0, &error));
  EXPECT_EQ(error, "not a memtrace trace (no MEMTRACE signature at the start)");
  const uint8_t one = 'M';
  error.clear();
  EXPECT_FALSE(TraceReader::FromBytes(&one, 0, &error));
  EXPECT_EQ(error, "not a memtrace trace (no MEMTRACE signature at the start)");
}

TEST(TraceReaderOpenTest, ErrorsNameThePath) {
  std::string error;
  EXPECT_FALSE(TraceReader::Open("/nonexistent/dir/trace.mtr", &error));
  EXPECT_EQ(error, "/nonexistent/dir/trace.mtr: cannot open trace: No such file or directory");
  EXPECT_FALSE(TraceReader::Open("/", &error));
  EXPECT_EQ(error, "/: not a regular file");
  const std::string empty = WriteTempTrace({}, "empty.mtr");
  EXPECT_FALSE(TraceReader::Open(empty, &error));
  unlink(empty.c_str());
  EXPECT_EQ(error, empty + ": not a memtrace trace (no MEMTRACE signature at the start)");
}

TEST(TraceReaderOpenTest, ReadsAWholeFile) {
  TraceBuilder builder;
  builder.Add(1, Malloc(1, 0x1000));
  builder.Add(2, Release(RecordKind::kFree, 2, 0x1000));
  const std::string path = WriteTempTrace(builder.Build(), "whole.mtr");
  std::string error;
  auto reader = TraceReader::Open(path, &error);
  unlink(path.c_str());  // the mapping keeps the bytes readable
  ASSERT_TRUE(reader) << error;
  EXPECT_EQ(ReadAll(*reader), ExpectedOrder(builder));
  EXPECT_EQ(std::string(reader->header().program), "/usr/bin/example");
}

}  // namespace
}  // namespace memtrace::format

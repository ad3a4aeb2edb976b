// Damaged, cut, foreign and missing traces: each gives one clear error.
#include <gtest/gtest.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "format/trace_reader.h"
#include "tests/support/reader_records.h"
#include "tests/support/trace_builder.h"

namespace memtrace::format {
namespace {

using namespace reader_test;
using test_support::TraceBuilder;
using test_support::WriteTempTrace;

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
  // 0xfe is no kind any version defines: the error says a newer memtrace may have written it.
  EXPECT_NE(error.find("record kind 254 is unknown to this memtrace"), std::string::npos) << error;
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

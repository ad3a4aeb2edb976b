// The packed form reads back exactly as the raw trace it was made from (records, their bytes, errors,
// the truncated verdict), and every damage to a packed file gives one clear error, never a crash.
#include "format/trace_packer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "format/packed_layout.h"
#include "format/trace_reader.h"
#include "tests/support/reader_records.h"
#include "tests/support/trace_builder.h"

namespace memtrace::format {
namespace {

using namespace reader_test;
using test_support::TraceBuilder;
using test_support::WriteTempTrace;

// Everything a reader hands out, including meta bytes and frames, and how reading ended.
struct Outcome {
  std::string open_error;
  std::vector<std::string> records;
  std::string error;
  bool truncated = false;
  uint64_t chunks = 0;
  size_t threads = 0;
};

Outcome ReadOutcome(const std::vector<uint8_t>& file) {
  Outcome out;
  auto reader = Read(file, &out.open_error);
  if (!reader) return out;
  Event e;
  while (reader->Next(&e)) {
    std::string line = Describe(KeyOf(e.tid, e)) + " flags=" + std::to_string(e.flags) +
                       " stack=" + std::to_string(e.stack_id) + " frames=";
    for (uint32_t i = 0; i < e.frame_count; ++i) line += std::to_string(e.frames[i]) + ",";
    line += " bytes=" + std::string(reinterpret_cast<const char*>(e.bytes), e.byte_count);
    out.records.push_back(line);
  }
  out.error = reader->error();
  out.truncated = reader->truncated();
  out.chunks = reader->chunk_count();
  out.threads = reader->thread_count();
  return out;
}

std::vector<uint8_t> Pack(const std::vector<uint8_t>& raw) {
  std::string error;
  std::vector<uint8_t> packed = PackBytes(raw.data(), raw.size(), kDefaultPackLevel, &error);
  EXPECT_FALSE(packed.empty()) << error;
  return packed;
}

void ExpectSameOutcome(const std::vector<uint8_t>& raw) {
  const std::vector<uint8_t> packed = Pack(raw);
  const Outcome a = ReadOutcome(raw);
  const Outcome b = ReadOutcome(packed);
  ASSERT_TRUE(a.open_error.empty()) << a.open_error;
  EXPECT_TRUE(b.open_error.empty()) << b.open_error;
  EXPECT_EQ(a.records, b.records);
  EXPECT_EQ(a.error, b.error);
  EXPECT_EQ(a.truncated, b.truncated);
  EXPECT_EQ(a.chunks, b.chunks);
  EXPECT_EQ(a.threads, b.threads);
}

// Three threads over several chunks, one unused chunk, meta records with bytes and frames.
TraceBuilder ThreeThreads(int records_per_thread) {
  static const uint64_t frames[] = {0x401136, 0x7f1234029d90, 0x401055};
  static const char env[] = "MALLOC_ARENA_MAX=2";
  TraceBuilder b;
  Record r;
  r.kind = RecordKind::kEnvironment;
  r.timestamp = 1;
  r.bytes = reinterpret_cast<const uint8_t*>(env);
  r.byte_count = sizeof env - 1;
  b.Add(1, r);
  r = Record();
  r.kind = RecordKind::kStackDef;
  r.timestamp = 2;
  r.stack_id = 1, r.frames = frames, r.frame_count = 3;
  b.Add(1, r);
  for (int i = 0; i < records_per_thread; ++i) {
    for (uint32_t tid = 1; tid <= 3; ++tid) {
      const uint64_t t = 10 + uint64_t(i) * 10 + tid;
      b.Add(tid, Malloc(t, 0x10000 * tid + uint64_t(i) * 0x40, 16 + uint64_t(i % 7) * 8));
      if (i == records_per_thread / 2 && tid == 2) b.AddUnusedChunk();
    }
  }
  return b;
}

TEST(TracePackerTest, PackedReadsAsRaw) {
  TraceBuilder b = ThreeThreads(600);  // several 4 KiB chunks per thread
  ASSERT_GT(b.chunk_count(), 6u);
  const std::vector<uint8_t> raw = b.Build();
  ExpectSameOutcome(raw);
  const std::vector<uint8_t> packed = Pack(raw);
  EXPECT_LT(packed.size(), raw.size() / 3) << "delta-varint records of regular strides compress well";
  std::string error;
  auto reader = Read(packed, &error);
  ASSERT_TRUE(reader) << error;
  EXPECT_TRUE(reader->packed());
  EXPECT_EQ(reader->header().flags & kHeaderPacked, 0u) << "header() shows the raw trace's flags";
  EXPECT_EQ(ReadAll(*reader), ExpectedOrder(b));
}

// Chunks are compressed on several threads a window at a time; the file does not depend on how many.
TEST(TracePackerTest, SameBytesWhateverTheThreadCount) {
  const std::vector<uint8_t> raw = ThreeThreads(2000).Build();
  std::string error;
  const std::vector<uint8_t> one = PackBytes(raw.data(), raw.size(), kDefaultPackLevel, &error, 1);
  ASSERT_FALSE(one.empty()) << error;
  for (unsigned threads : {2u, 3u, 8u}) {
    EXPECT_EQ(PackBytes(raw.data(), raw.size(), kDefaultPackLevel, &error, threads), one) << threads;
  }
}

TEST(TracePackerTest, TruncatedRawKeepsItsVerdictAtEveryCut) {
  TraceBuilder b = ThreeThreads(150);
  const std::vector<uint8_t> full = b.Build();
  // Cut the raw file at many places, inside headers, records and the unused chunk: the packed form of
  // each reads exactly as the cut raw file does.
  for (size_t cut = sizeof(FileHeader); cut <= full.size(); cut += 97) {
    SCOPED_TRACE("raw cut at " + std::to_string(cut));
    std::vector<uint8_t> raw(full.begin(), full.begin() + static_cast<ptrdiff_t>(cut));
    ExpectSameOutcome(raw);
  }
}

TEST(TracePackerTest, ChunksBeyondTheFileKeepTheVerdict) {
  TraceBuilder b = ThreeThreads(20);
  b.header().chunks_allocated += 3;  // the writer took chunks the file never grew to hold
  const std::vector<uint8_t> raw = b.Build();
  ASSERT_TRUE(ReadOutcome(raw).truncated);
  ExpectSameOutcome(raw);
}

TEST(TracePackerTest, CorruptRecordGivesTheSameError) {
  TraceBuilder b = ThreeThreads(30);
  b.AddRawBytes(0, {0xfe, 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08});
  const std::vector<uint8_t> raw = b.Build();
  const Outcome a = ReadOutcome(raw);
  ASSERT_NE(a.error.find("undecodable record at byte"), std::string::npos) << a.error;
  ExpectSameOutcome(raw);
}

TEST(TracePackerTest, UnreadableRawIsNotPacked) {
  TraceBuilder b = ThreeThreads(5);
  b.chunk_header(1).magic = 0xdeadbeef;
  const std::vector<uint8_t> raw = b.Build();
  std::string error;
  EXPECT_TRUE(PackBytes(raw.data(), raw.size(), kDefaultPackLevel, &error).empty());
  EXPECT_NE(error.find("damaged header"), std::string::npos) << error;
}

TEST(TracePackerTest, CutAtEveryByteIsOneClearError) {
  TraceBuilder b = ThreeThreads(40);
  const std::vector<uint8_t> packed = Pack(b.Build());
  for (size_t cut = 0; cut < packed.size(); ++cut) {
    std::vector<uint8_t> part(packed.begin(), packed.begin() + static_cast<ptrdiff_t>(cut));
    const Outcome o = ReadOutcome(part);
    ASSERT_FALSE(o.open_error.empty()) << "a packed file cut at " << cut << " was accepted";
    ASSERT_EQ(o.open_error.find('\n'), std::string::npos) << o.open_error;
    if (cut >= sizeof(FileHeader)) {
      ASSERT_NE(o.open_error.find("packed trace is cut short"), std::string::npos)
          << cut << ": " << o.open_error;
    }
  }
}

TEST(TracePackerTest, FlippedIndexByteFailsTheChecksum) {
  const std::vector<uint8_t> good = Pack(ThreeThreads(40).Build());
  PackedFooter footer;
  std::memcpy(&footer, good.data() + good.size() - sizeof footer, sizeof footer);
  ASSERT_GE(footer.chunk_count, 3u);
  for (size_t at = footer.index_offset; at < good.size() - sizeof footer; at += 5) {
    std::vector<uint8_t> bad = good;
    bad[at] ^= 0x10;
    const Outcome o = ReadOutcome(bad);
    ASSERT_NE(o.open_error.find("chunk index fails its checksum"), std::string::npos)
        << at << ": " << o.open_error;
  }
}

TEST(TracePackerTest, WrongFooterVersionIsNamed) {
  std::vector<uint8_t> packed = Pack(ThreeThreads(5).Build());
  const uint32_t version = kPackedVersion + 1;
  std::memcpy(packed.data() + packed.size() - sizeof(PackedFooter) + offsetof(PackedFooter, version),
              &version, sizeof version);
  const Outcome o = ReadOutcome(packed);
  EXPECT_NE(o.open_error.find("packing version 2, newer than the 1"), std::string::npos) << o.open_error;
}

TEST(TracePackerTest, DamagedFrameIsCorruptNotGarbage) {
  const std::vector<uint8_t> good = Pack(ThreeThreads(200).Build());
  PackedFooter footer;
  std::memcpy(&footer, good.data() + good.size() - sizeof footer, sizeof footer);
  // Flip a byte in every frame region position in turn (stepping to keep it quick): each is caught
  // by zstd's frame checks or content checksum, at open or while reading.
  for (size_t at = sizeof(FileHeader); at < footer.index_offset; at += 11) {
    std::vector<uint8_t> bad = good;
    bad[at] ^= 0x01;
    const Outcome o = ReadOutcome(bad);
    const std::string& error = o.open_error.empty() ? o.error : o.open_error;
    ASSERT_NE(error.find("packed trace is corrupt"), std::string::npos) << at << ": " << error;
  }
}

std::vector<uint8_t> Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

TEST(TracePackerTest, PackFileInPlaceAndBeside) {
  TraceBuilder b = ThreeThreads(100);
  const std::vector<uint8_t> raw = b.Build();
  const std::string path = WriteTempTrace(raw, "pack_in_place");
  PackStats stats;
  bool already = false;
  std::string error;
  ASSERT_TRUE(PackTraceFile(path, path, kDefaultPackLevel, &stats, &already, &error)) << error;
  const std::vector<uint8_t> packed = Slurp(path);
  EXPECT_EQ(stats.raw_bytes, raw.size());
  EXPECT_EQ(stats.packed_bytes, packed.size());
  EXPECT_EQ(ReadOutcome(packed).records, ReadOutcome(raw).records);
  // Packing it again is refused as already packed and leaves it alone.
  EXPECT_FALSE(PackTraceFile(path, path, kDefaultPackLevel, &stats, &already, &error));
  EXPECT_TRUE(already);
  EXPECT_EQ(Slurp(path), packed);

  const std::string source = WriteTempTrace(raw, "pack_source");
  const std::string out = source + ".packed";
  ASSERT_TRUE(PackTraceFile(source, out, kDefaultPackLevel, &stats, &already, &error)) << error;
  EXPECT_EQ(Slurp(source), raw) << "-o leaves the raw trace as it was";
  EXPECT_EQ(Slurp(out), packed);
  unlink(path.c_str());
  unlink(source.c_str());
  unlink(out.c_str());
}

TEST(TracePackerTest, FailureKeepsTheRawTrace) {
  const std::vector<uint8_t> raw = ThreeThreads(10).Build();
  const std::string path = WriteTempTrace(raw, "pack_failure");
  PackStats stats;
  bool already = false;
  std::string error;
  // The temporary file cannot be made in a directory that does not exist.
  EXPECT_FALSE(PackTraceFile(path, "/nonexistent-dir/x.mtr", kDefaultPackLevel, &stats, &already, &error));
  EXPECT_NE(error.find("cannot create the packed file beside it"), std::string::npos) << error;
  EXPECT_EQ(Slurp(path), raw);
  unlink(path.c_str());
}

}  // namespace
}  // namespace memtrace::format

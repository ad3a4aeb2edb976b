// Runs the libFuzzer entry point (trace_reader_fuzzer.cc, compiled in with MEMTRACE_FUZZ_REPLAY) over
// the checked-in seed corpus and a fixed set of mutations of it, so every CI build exercises the
// parser on hostile input even without clang's libFuzzer.
//
// The seeds are made by the disabled test WriteSeedCorpus below; to regenerate them:
//   build/tests/trace_reader_fuzzer_replay_test --gtest_also_run_disabled_tests --gtest_filter='*WriteSeed*'
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "format/fuzz_check.h"
#include "format/packed_layout.h"
#include "format/trace_packer.h"
#include "format/trace_reader.h"
#include "tests/support/trace_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace memtrace::format {
namespace {

constexpr int kMutations = 20000;

struct Seed {
  std::string name;
  std::vector<uint8_t> bytes;
};

std::vector<Seed> LoadCorpus() {
  std::vector<Seed> seeds;
  for (const auto& entry : std::filesystem::directory_iterator(MEMTRACE_FUZZ_CORPUS_DIR)) {
    std::ifstream in(entry.path(), std::ios::binary);
    seeds.push_back(
        {entry.path().filename().string(),
         std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>())});
  }
  std::sort(seeds.begin(), seeds.end(), [](const Seed& a, const Seed& b) { return a.name < b.name; });
  return seeds;
}

// Runs the entry point on an exact-size copy (so any overread leaves the buffer) and returns the broken
// promise, or null.
const char* RunOne(const std::vector<uint8_t>& input) {
  fuzz::violation = nullptr;
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size() + (input.empty() ? 1 : 0)]);
  if (!input.empty()) std::memcpy(copy.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(copy.get(), input.size());
  return fuzz::violation;
}

// The byte ranges a blind mutation would rarely hit but that hold all the structure: the header's
// fields and each chunk's header and committed records. Mutating zero padding teaches nothing.
std::vector<std::pair<size_t, size_t>> InterestingRanges(const std::vector<uint8_t>& file) {
  std::vector<std::pair<size_t, size_t>> ranges = {{0, std::min(file.size(), offsetof(FileHeader, program))}};
  if (file.size() < sizeof(FileHeader)) return ranges;
  FileHeader header;
  std::memcpy(&header, file.data(), sizeof header);
  if (header.flags & kHeaderPacked) {
    // Packed: the frames, the index and the footer are all structure.
    ranges.emplace_back(sizeof(FileHeader), file.size());
    if (file.size() >= sizeof(FileHeader) + sizeof(PackedFooter)) {
      ranges.emplace_back(file.size() - sizeof(PackedFooter), file.size());
    }
    return ranges;
  }
  if (header.chunk_bytes < sizeof(ChunkHeader)) return ranges;
  for (uint64_t offset = kHeaderBytes; offset + sizeof(ChunkHeader) <= file.size();
       offset += header.chunk_bytes) {
    ChunkHeader chunk;
    std::memcpy(&chunk, file.data() + offset, sizeof chunk);
    const uint64_t end =
        std::min<uint64_t>(file.size(), offset + sizeof(ChunkHeader) + chunk.committed_bytes);
    ranges.emplace_back(offset, end);
  }
  return ranges;
}

class Mutator {
 public:
  explicit Mutator(uint64_t seed) : rng_(seed) {}

  std::vector<uint8_t> Mutate(std::vector<uint8_t> data) {
    const auto ranges = InterestingRanges(data);
    const int steps = 1 + static_cast<int>(Below(4));
    for (int i = 0; i < steps && !data.empty(); ++i) {
      const size_t at = Position(data, ranges);
      switch (Below(7)) {
        case 0:  // flip one bit
          data[at] ^= static_cast<uint8_t>(1u << Below(8));
          break;
        case 1: {  // an edge-case byte: varint ends, continuation, kinds and flags past the known ones
          static constexpr uint8_t kBytes[] = {0x00, 0x01, 0x7f, 0x80, 0xff, 0x1f, 0x20, 99, 100, 106};
          data[at] = kBytes[Below(std::size(kBytes))];
          break;
        }
        case 2: {  // an edge-case 32- or 64-bit little-endian integer (sizes, counts, offsets)
          static constexpr uint64_t kValues[] = {
              0, 1, 4064, 4065, 4096, 0x7fffffff, 0xffffffff, ~uint64_t{0}, uint64_t{1} << 32};
          const uint64_t v = kValues[Below(std::size(kValues))];
          const size_t width = Below(2) ? 4 : 8;
          std::memcpy(data.data() + at, &v, std::min(width, data.size() - at));
          break;
        }
        case 3:  // cut the file
          data.resize(at);
          break;
        case 4: {  // remove a few bytes, shifting the rest
          const size_t n = std::min<size_t>(data.size() - at, 1 + Below(16));
          data.erase(data.begin() + static_cast<ptrdiff_t>(at),
                     data.begin() + static_cast<ptrdiff_t>(at + n));
          break;
        }
        case 5: {  // insert random bytes
          std::vector<uint8_t> noise(1 + Below(16));
          for (uint8_t& b : noise) b = static_cast<uint8_t>(Below(256));
          data.insert(data.begin() + static_cast<ptrdiff_t>(at), noise.begin(), noise.end());
          break;
        }
        case 6: {  // copy a run of bytes from one interesting place over another (records over records)
          const size_t from = Position(data, ranges);
          const size_t n = std::min({data.size() - at, data.size() - from, size_t{1} + Below(64)});
          std::memmove(data.data() + at, data.data() + from, n);
          break;
        }
      }
    }
    return data;
  }

 private:
  size_t Below(size_t n) { return static_cast<size_t>(rng_() % n); }

  size_t Position(const std::vector<uint8_t>& data, const std::vector<std::pair<size_t, size_t>>& ranges) {
    if (Below(4) == 0 || ranges.empty()) return Below(data.size());  // mostly where the structure is
    const auto& [begin, end] = ranges[Below(ranges.size())];
    if (begin >= data.size() || begin >= end) return Below(data.size());
    return std::min(data.size() - 1, begin + Below(end - begin));
  }

  std::mt19937_64 rng_;
};

TEST(TraceReaderFuzzerReplayTest, SeedsAreValidTraces) {
  const std::vector<Seed> seeds = LoadCorpus();
  ASSERT_GE(seeds.size(), 6u) << "seed corpus missing from " << MEMTRACE_FUZZ_CORPUS_DIR;
  for (const Seed& seed : seeds) {
    // A seed the reader rejects would make every mutation of it test only the header check.
    std::string error;
    auto reader = TraceReader::FromBytes(seed.bytes.data(), seed.bytes.size(), &error);
    ASSERT_TRUE(reader) << seed.name << ": " << error;
    Event event;
    while (reader->Next(&event)) {
    }
    EXPECT_TRUE(reader->error().empty()) << seed.name << ": " << reader->error();
    EXPECT_GE(reader->records_read(), 3u) << seed.name;
    EXPECT_EQ(RunOne(seed.bytes), nullptr) << seed.name;
  }
}

TEST(TraceReaderFuzzerReplayTest, MutatedSeedsKeepThePromises) {
  const std::vector<Seed> seeds = LoadCorpus();
  ASSERT_FALSE(seeds.empty());
  Mutator mutator(0x6d656d7472616365);  // fixed: a failure reproduces
  int failures = 0;
  int opened = 0;   // mutants the reader accepted: they reach the record decoder
  int damaged = 0;  // of those, ones where reading stopped at a corruption report
  for (int i = 0; i < kMutations && failures < 5; ++i) {
    const Seed& seed = seeds[static_cast<size_t>(i) % seeds.size()];
    const std::vector<uint8_t> input = mutator.Mutate(seed.bytes);
    std::string error;
    if (auto reader = TraceReader::FromBytes(input.data(), input.size(), &error)) {
      ++opened;
      Event event;
      while (reader->Next(&event)) {
      }
      damaged += !reader->error().empty();
    }
    if (const char* broken = RunOne(input)) {
      const std::string path = ::testing::TempDir() + "trace_reader_fuzz_failure_" + std::to_string(i);
      std::ofstream(path, std::ios::binary)
          .write(reinterpret_cast<const char*>(input.data()), static_cast<std::streamsize>(input.size()));
      ADD_FAILURE() << "mutation " << i << " of " << seed.name << " broke: " << broken << " (input saved to "
                    << path << ")";
      ++failures;
    }
  }
  // Mutations that only ever broke the header would leave the record decoder untested.
  std::printf("%d of %d mutants opened, %d of those hit corruption\n", opened, kMutations, damaged);
  EXPECT_GT(opened, kMutations / 4);
  EXPECT_GT(damaged, kMutations / 20);
}

// ---- Seed corpus generator (disabled: run by hand when the format changes) ----
// Seeds carry no .mtr suffix: .gitignore drops *.mtr, which is meant for traces left by test runs.

void WriteFile(const std::string& name, const std::vector<uint8_t>& bytes) {
  std::ofstream(std::string(MEMTRACE_FUZZ_CORPUS_DIR) + "/" + name, std::ios::binary)
      .write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Writes the raw seed and, as packed_NAME, its packed form.
void WriteSeed(const std::string& name, std::vector<uint8_t> bytes, uint64_t keep) {
  // The writer's files end at whole chunks; the zero tail after the last committed byte carries nothing,
  // so the checked-in seeds stop there to stay small.
  bytes.resize(std::min<uint64_t>(bytes.size(), keep));
  WriteFile(name, bytes);
  std::string error;
  std::vector<uint8_t> packed = PackBytes(bytes.data(), bytes.size(), kDefaultPackLevel, &error);
  ASSERT_FALSE(packed.empty()) << name << ": " << error;
  WriteFile("packed_" + name, packed);
}

TEST(TraceReaderFuzzerReplayTest, DISABLED_WriteSeedCorpus) {
  static const uint64_t frames[] = {0x401136, 0x7f12'3402'9d90, 0x7f12'3402'9e40, 0x401055};
  static const char path[] = "/lib/x86_64-linux-gnu/libc.so.6";
  static const char env[] = "MALLOC_MMAP_THRESHOLD_=65536";
  auto record = [](RecordKind kind, uint64_t t) {
    Record r;
    r.kind = kind;
    r.timestamp = t;
    return r;
  };

  {  // One thread: every common shape plus the meta records.
    test_support::TraceBuilder b;
    Record r = record(RecordKind::kEnvironment, 1);
    r.bytes = reinterpret_cast<const uint8_t*>(env);
    r.byte_count = sizeof env - 1;
    b.Add(1, r);
    r = record(RecordKind::kModule, 2);
    r.address = 0x7f12'3400'0000, r.size = 0x1e0000;
    r.bytes = reinterpret_cast<const uint8_t*>(path), r.byte_count = sizeof path - 1;
    b.Add(1, r);
    r = record(RecordKind::kStackDef, 3);
    r.stack_id = 1, r.frames = frames, r.frame_count = 4;
    b.Add(1, r);
    r = record(RecordKind::kMalloc, 10);
    r.size = 100, r.address = 0x5555'5555'92a0, r.flags = kFlagChunkRead | kFlagBrkMoved | kFlagHasStack;
    r.chunk_size = 112, r.brk_before = 0x5555'5555'9000, r.brk_after = 0x5555'5557'a000, r.stack_id = 1;
    b.Add(1, r);
    r = record(RecordKind::kMalloc, 20);
    r.size = 1 << 20, r.address = 0x7f12'3300'0010, r.flags = kFlagChunkRead | kFlagMmapped;
    r.chunk_size = (1 << 20) + 4096, r.chunk_offset = 0;
    b.Add(1, r);
    r = record(RecordKind::kRealloc, 30);
    r.old_address = 0x5555'5555'92a0, r.size = 200, r.address = 0x5555'5555'9310;
    b.Add(1, r);
    r = record(RecordKind::kFree, 40);
    r.address = 0x5555'5555'9310, r.flags = kFlagChunkRead, r.chunk_size = 208;
    b.Add(1, r);
    r = record(RecordKind::kMmap, 50);
    r.size = 8192, r.prot = 3, r.map_flags = 0x22, r.fd = -1, r.address = 0x7f12'3500'0000;
    b.Add(1, r);
    r = record(RecordKind::kProcessEnd, 60);
    r.param = static_cast<int64_t>(EndReason::kExit);
    b.Add(1, r);
    WriteSeed("one_thread", b.Build(), b.committed_end());
  }
  {  // Three threads, a tie between a free and a malloc, a second chunk, an unused chunk.
    test_support::TraceBuilder b;
    Record r = record(RecordKind::kMalloc, 100);
    r.size = 24, r.address = 0x5555'5555'a000;
    b.Add(1, r);
    r = record(RecordKind::kThreadStart, 101);
    r.tid = 1;
    b.Add(2, r);
    r = record(RecordKind::kFree, 200);
    r.address = 0x5555'5555'a000;
    b.Add(2, r);
    r = record(RecordKind::kCalloc, 200);
    r.count = 4, r.size = 8, r.address = 0x5555'5555'a000;
    b.Add(3, r);
    b.AddUnusedChunk();
    b.StartChunk(1, 300);
    r = record(RecordKind::kDelete, 300);
    r.address = 0x5555'5555'a000, r.size = 32;
    b.Add(1, r);
    r = record(RecordKind::kSbrk, 310);
    r.param = 4096, r.address = 0x5555'5557'a000, r.flags = kFlagBrkMoved;
    r.brk_before = 0x5555'5557'a000, r.brk_after = 0x5555'5557'b000;
    b.Add(1, r);
    WriteSeed("three_threads", b.Build(), b.committed_end());
  }
  {  // A file cut inside a record, as a SIGKILL during a copy leaves it.
    test_support::TraceBuilder b;
    for (uint64_t i = 0; i < 6; ++i) {
      Record r = record(RecordKind::kMalloc, 1000 + i);
      r.size = 16 << i, r.address = 0x5555'5555'b000 + i * 0x40;
      b.Add(7, r);
    }
    WriteSeed("cut_in_record", b.Build(), b.placed().back().end_offset - 2);
  }
}

}  // namespace
}  // namespace memtrace::format

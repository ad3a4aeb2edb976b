// Runs the split-form fuzz target (chunk_split_fuzzer.cc, compiled in with MEMTRACE_FUZZ_REPLAY) over
// seeds split from built chunks and fixed mutations of them (flipped bytes, cut forms, other output
// sizes), so every CI build checks its promises without clang's libFuzzer.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "format/chunk_split.h"
#include "format/fuzz_check.h"
#include "tests/support/reader_records.h"
#include "tests/support/trace_builder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace memtrace::format {
namespace {

using namespace reader_test;

// The fuzz input for a chunk of `b`: the output size, then the records' split form.
std::vector<uint8_t> SeedOf(const TraceBuilder& b) {
  const std::vector<uint8_t> records = ChunkRecords(b);
  const uint32_t size = static_cast<uint32_t>(records.size());
  std::vector<uint8_t> input(4);
  std::memcpy(input.data(), &size, 4);
  SplitChunkRecords(records.data(), records.size(), 1000, &input);
  return input;
}

std::vector<std::vector<uint8_t>> Seeds() {
  std::mt19937_64 rng(4);
  TraceBuilder calls(65536), mixed(65536);
  uint64_t t = 1000;
  std::vector<uint64_t> slots(32, 0);
  for (int i = 0; i < 1500; ++i) {
    uint64_t& slot = slots[rng() % slots.size()];
    Record r = slot ? Release(RecordKind::kFree, ++t, slot) : Malloc(++t, 0x555555560000 + i * 0x40, 48);
    r.flags = static_cast<uint8_t>(rng() % (kKnownFlags + 1));
    r.chunk_size = 64, r.stack_id = 3, r.brk_before = 0x1000, r.brk_after = 0x2000;
    slot = slot ? 0 : r.address;
    calls.Add(1, r);
    mixed.Add(1, i % 5 ? r : Mmap(t, 0x7f0000000000 + uint64_t(i) * 0x1000, 8192));
  }
  return {SeedOf(calls), SeedOf(mixed)};
}

const char* RunOne(const std::vector<uint8_t>& input) {
  fuzz::violation = nullptr;
  std::unique_ptr<uint8_t[]> copy(new uint8_t[input.size() + 1]);  // exact size: overreads leave it
  std::memcpy(copy.get(), input.data(), input.size());
  LLVMFuzzerTestOneInput(copy.get(), input.size());
  return fuzz::violation;
}

TEST(ChunkSplitFuzzerReplayTest, SeedsAndMutationsKeepEveryPromise) {
  std::mt19937_64 rng(6);
  for (const std::vector<uint8_t>& seed : Seeds()) {
    ASSERT_EQ(RunOne(seed), nullptr);
    for (int trial = 0; trial < 3000; ++trial) {
      std::vector<uint8_t> input = seed;
      switch (trial % 3) {
        case 0: input[4 + rng() % (input.size() - 4)] ^= static_cast<uint8_t>(1 + rng() % 255); break;
        case 1: input.resize(4 + rng() % (input.size() - 4)); break;
        default: {  // another output size
          const uint32_t size = static_cast<uint32_t>(rng() % 20000);
          std::memcpy(input.data(), &size, 4);
        }
      }
      const char* broken = RunOne(input);
      ASSERT_EQ(broken, nullptr) << broken << " (trial " << trial << ")";
    }
  }
}

}  // namespace
}  // namespace memtrace::format

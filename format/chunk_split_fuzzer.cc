// libFuzzer target for the split form's parser (JoinChunkRecords): a packed trace's chunks are joined
// from whatever a damaged file holds. Besides "no crash" (ASan/UBSan), it checks:
//   - the fast path for plain calls gives exactly what the general path gives (verdict and bytes);
//   - what joins splits and joins back to the same bytes.
// Input: a u32 (little-endian) output size, then the split form.
//
// Built two ways: with -fsanitize=fuzzer (MEMTRACE_BUILD_FUZZERS, clang), and into the gtest
// chunk_split_fuzzer_replay_test with MEMTRACE_FUZZ_REPLAY defined, which replays seeds and mutations
// on any compiler.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "format/chunk_split.h"
#include "format/fuzz_check.h"

#ifdef MEMTRACE_FUZZ_REPLAY
// The replay test reports which input broke which promise rather than dying on the first one.
const char* memtrace::format::fuzz::violation = nullptr;
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace memtrace::format;
  if (size < 4) return 0;
  uint32_t out_size;
  std::memcpy(&out_size, data, 4);
  out_size %= 1u << 20;  // chunks hold at most a few MiB; keep the buffers small
  const uint8_t* form = data + 4;
  const size_t length = size - 4;
  constexpr uint64_t kFirstTimestamp = 1000;
  std::vector<uint8_t> fast(out_size), general(out_size);
  const bool fast_ok = JoinChunkRecords(form, length, fast.data(), out_size, kFirstTimestamp);
  const bool general_ok =
      internal::JoinChunkRecordsGenerally(form, length, general.data(), out_size, kFirstTimestamp);
  FUZZ_CHECK(fast_ok == general_ok);
  if (!fast_ok) return 0;
  FUZZ_CHECK(fast == general);
  std::vector<uint8_t> split;
  SplitChunkRecords(fast.data(), fast.size(), kFirstTimestamp, &split);
  std::vector<uint8_t> again(out_size);
  FUZZ_CHECK(JoinChunkRecords(split.data(), split.size(), again.data(), out_size, kFirstTimestamp));
  FUZZ_CHECK(again == fast);
  return 0;
}

// libFuzzer target: the reader must survive any file, because traces come from crashed, killed or
// foreign processes. Besides "no crash" (ASan/UBSan catch out-of-bounds reads), it checks the promises
// the analyzer relies on for every record handed out.
//
// Built two ways: with -fsanitize=fuzzer (MEMTRACE_BUILD_FUZZERS, clang), and into the gtest
// trace_reader_fuzzer_replay_test with MEMTRACE_FUZZ_REPLAY defined, which replays the seed corpus and
// mutations of it on any compiler.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "format/fuzz_check.h"
#include "format/trace_reader.h"

#ifdef MEMTRACE_FUZZ_REPLAY
// The replay test reports which input broke which promise rather than dying on the first one.
const char* memtrace::format::fuzz::violation = nullptr;
#endif

namespace {

bool Inside(const uint8_t* p, size_t n, const uint8_t* data, size_t size) {
  return n == 0 || (p >= data && n <= size && p <= data + size - n);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using memtrace::format::Event;
  using memtrace::format::TraceReader;
  std::string error;
  std::unique_ptr<TraceReader> reader = TraceReader::FromBytes(data, size, &error);
  if (!reader) {
    FUZZ_CHECK(!error.empty());  // a refusal always says why
    return 0;
  }
  Event event;
  uint64_t records = 0;
  uint64_t checksum = 0;
  while (reader->Next(&event)) {
    ++records;
    // Every record takes at least three bytes (kind, flags, time delta): more records than that is a loop.
    // A packed trace holds up to 64 KiB of records per chunk in far fewer bytes: bound by what it unpacks to.
    FUZZ_CHECK(records <=
               (reader->packed() ? reader->chunk_count() * reader->header().chunk_bytes : size) / 3);
    FUZZ_CHECK(event.frame_count <= memtrace::format::kMaxFrames);
    FUZZ_CHECK(event.frame_count == 0 || event.frames != nullptr);
    // A raw trace's records point into the input; a packed one's into the reader's chunk buffers, which
    // the sanitizer checks through the touching loops below.
    FUZZ_CHECK(reader->packed() || Inside(event.bytes, event.byte_count, data, size));
    FUZZ_CHECK(reader->packed() || Inside(event.build_id, event.build_id_count, data, size));
    FUZZ_CHECK(event.byte_count <= memtrace::format::kMaxMetaBytes);
    // Touch what the pointers cover so a sanitizer sees any bad one.
    for (uint32_t i = 0; i < event.frame_count; ++i) checksum += event.frames[i];
    for (uint32_t i = 0; i < event.byte_count; ++i) checksum += event.bytes[i];
    for (uint32_t i = 0; i < event.build_id_count; ++i) checksum += event.build_id[i];
  }
  FUZZ_CHECK(reader->records_read() == records);
  FUZZ_CHECK(!reader->Next(&event));  // the end stays the end
  FUZZ_CHECK(reader->error().empty() || reader->error().find("corrupt") != std::string::npos);
  // A raw chunk takes at least a ChunkHeader of the file, a packed one at least its index entry.
  FUZZ_CHECK(reader->thread_count() <= size / sizeof(memtrace::format::ChunkHeader));
  // Keep the checksum alive so the touching loops are not optimised away.
  volatile uint64_t sink = checksum;
  (void)sink;
  return 0;
}

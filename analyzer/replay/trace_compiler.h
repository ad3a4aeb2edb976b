// Compiles a trace, in the one streaming pass every report uses, into the op stream memtrace-replay
// executes (analyzer/replay/op_stream.h): addresses become slots, threads become op sequences, and each
// release of a block another thread allocated waits for that allocation.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "analyzer/replay/op_stream.h"
#include "analyzer/trace_pass.h"

namespace memtrace::replay {

struct CompileStats {
  uint64_t operations = 0;             // ops written, spawns excluded
  uint64_t cross_thread_waits = 0;     // ops that wait for another thread
  uint64_t unknown_releases = 0;       // releases of blocks allocated before tracing began: not replayed
  uint64_t approximated_reallocs = 0;  // realloc of an unknown block, replayed as malloc
  uint64_t unreplayed_brk_moves = 0;   // break moves caused by calls the replay does not make
  uint64_t mallopt_calls = 0;          // replayed in order, like the two below
  uint64_t malloc_trim_calls = 0;
  uint64_t program_brk_calls = 0;  // the program's own brk/sbrk, replayed as sbrk of the recorded move
  uint64_t first_call_ns = 0;      // timestamps of the first and last replayed call
  uint64_t last_call_ns = 0;
  uint32_t threads = 0;
  uint64_t slots = 0;
  uint64_t prefill_bytes = 0;  // see OpFileHeader
};

class TraceCompiler : public analyzer::EventConsumer {
 public:
  // Writes the op stream to `path` (created or truncated). Check Finish() after the pass.
  explicit TraceCompiler(std::string path);
  ~TraceCompiler() override;
  TraceCompiler(const TraceCompiler&) = delete;
  TraceCompiler& operator=(const TraceCompiler&) = delete;

  void Begin(const analyzer::TraceInfo& info) override;
  void Apply(const format::Event& event) override;
  // Flushes the last blocks and writes the header; false with *error on any write failure.
  bool Finish(std::string* error);
  const CompileStats& stats() const { return stats_; }

 private:
  static constexpr uint32_t kNoSlot = UINT32_MAX;
  struct Thread {
    std::vector<uint8_t> block;  // encoded ops not yet written
    uint32_t block_ops = 0;
    std::vector<uint32_t> free_slots;    // released on this thread, reused by this thread first
    uint32_t pending_realloc = kNoSlot;  // the slot a realloc released just before its result record
  };
  struct SlotState {
    uint32_t operations = 0;  // ops on this slot so far: the sequence the next op runs at
    uint32_t last_thread = 0;
  };

  uint32_t ThreadIndex(uint32_t tid);
  uint32_t TakeSlot(uint32_t thread);
  void Emit(uint32_t thread, Op op);
  void EmitOnSlot(uint32_t thread, Op op, const format::Event& event);
  void Release(const format::Event& event, uint32_t thread);
  void Allocate(const format::Event& event, uint32_t thread);
  void Reallocate(const format::Event& event, uint32_t thread);
  void ProcessCall(const format::Event& event, uint32_t thread);
  void FlushBlock(uint32_t thread);
  void NotePrefill(const format::Event& event);

  uint64_t initial_break_ = 0;
  bool prefill_known_ = false;
  std::string path_;
  std::FILE* file_ = nullptr;
  bool write_failed_ = false;
  uint64_t blocks_ = 0;
  uint64_t total_ops_ = 0;
  absl::flat_hash_map<uint32_t, uint32_t> thread_of_tid_;
  std::vector<Thread> threads_;
  absl::flat_hash_map<uint64_t, uint32_t> slot_of_address_;
  std::vector<SlotState> slots_;
  CompileStats stats_;
};

}  // namespace memtrace::replay

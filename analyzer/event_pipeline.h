// Reads a trace on a thread of its own while the caller consumes the events: decompressing, rebuilding
// and decoding records (the reader's work) and the analysis (the consumers') each get a core.
//
// The reader thread fills batches of events in the reader's order; the caller takes them one batch at a
// time. Each batch owns copies of what its events point to (stack frames, strings), so an event stays
// valid while its batch is held, not just until the next record as with TraceReader::Next.
//
// Concurrency contract: one caller thread. The reader belongs to the reader thread from construction
// until NextBatch has returned the empty batch (or the pipeline is destroyed); only then may the caller
// use reader(). A fixed number of batches circulate, so memory stays bounded however long the trace.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "format/trace_reader.h"

namespace memtrace::analyzer {

class EventPipeline {
 public:
  explicit EventPipeline(std::unique_ptr<format::TraceReader> reader);
  ~EventPipeline();
  EventPipeline(const EventPipeline&) = delete;
  EventPipeline& operator=(const EventPipeline&) = delete;

  // The next events in the reader's order, valid until the next call; empty once the reader has
  // stopped (at the end, or at corruption: see reader().error()). Gives back the batch held before.
  std::span<const format::Event> NextBatch();
  // The reader's chunks_started() when the batch NextBatch returned last was filled.
  uint64_t chunks_started() const { return chunks_started_; }
  // The reader, for its verdicts (error, truncated, records_read); only after the empty batch.
  const format::TraceReader& reader() const { return *reader_; }

 private:
  // Events with their frames and strings; pointers are set when the batch is complete.
  struct Batch {
    std::vector<format::Event> events;
    size_t count = 0;
    std::vector<uint64_t> frames;
    std::vector<uint8_t> bytes;
    struct Copied {  // an event's pointers, as offsets into the vectors above while they grow
      uint32_t event;
      uint32_t frames_at, bytes_at, build_id_at;
    };
    std::vector<Copied> copied;
    uint64_t chunks_started = 0;
    bool last = false;  // the reader stopped after this batch's events
  };
  static constexpr size_t kBatches = 4;
  static constexpr size_t kBatchEvents = 1024;  // ~210 KiB of events: a batch stays in a core's L2

  void Produce();
  void Fill(Batch& batch);

  std::unique_ptr<format::TraceReader> reader_;
  Batch batches_[kBatches];
  std::mutex mutex_;
  std::condition_variable changed_;
  bool full_[kBatches] = {};  // guarded by mutex_: filled by the reader thread, not yet given back
  bool stop_ = false;         // guarded by mutex_: the caller is gone
  size_t next_ = 0;           // caller: the batch NextBatch hands out next
  bool holding_ = false;      // caller: it holds batch next_ - 1
  bool done_ = false;         // caller: the last batch has been handed out
  uint64_t chunks_started_ = 0;
  std::thread thread_;
};

}  // namespace memtrace::analyzer

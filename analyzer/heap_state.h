// The set of live blocks as the merged event stream replays, with the checks that tell whether the
// stream is consistent: no address handed out twice without a release in between.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <vector>

#include "analyzer/event_facts.h"

namespace memtrace::analyzer {

struct LiveBlock {
  uint64_t size = 0;
  uint64_t timestamp = 0;
  uint32_t tid = 0;
  uint32_t stack_id = 0;
  RecordKind kind = RecordKind::kMalloc;
  Verdict verdict = Verdict::kUnknown;
  // glibc's chunk size / 16 for a main-arena heap chunk whose header was read, else 0 (also for sizes
  // of 64 GiB and more). Kept in the struct's padding: BreakTimeline needs a growing realloc's old size.
  uint32_t chunk_units = 0;
  uint64_t chunk_size() const { return uint64_t{chunk_units} * 16; }
};

// A block released by a function of another family than the one that allocated it.
struct MismatchedRelease {
  uint64_t address = 0;
  LiveBlock block;  // as it was allocated
  RecordKind release = RecordKind::kFree;
  uint32_t release_tid = 0;
  uint32_t release_stack_id = 0;
};

class HeapState {
 public:
  void Apply(const Event& e);

  const absl::flat_hash_map<uint64_t, LiveBlock>& live() const { return live_; }
  uint64_t live_bytes() const { return live_bytes_; }
  uint64_t peak_live_bytes() const { return peak_live_bytes_; }
  uint64_t peak_timestamp() const { return peak_timestamp_; }
  uint64_t allocated_bytes() const { return allocated_bytes_; }
  // An address handed out while the trace says it was still live.
  uint64_t double_allocations() const { return double_allocations_; }
  // A release of an address the trace never handed out (allocated before tracing began, or invalid).
  uint64_t unknown_releases() const { return unknown_releases_; }
  uint64_t mismatched_releases() const { return mismatched_releases_; }
  // The first few mismatches, for reports.
  const std::vector<MismatchedRelease>& mismatch_examples() const { return mismatch_examples_; }

 private:
  void Insert(uint64_t address, const LiveBlock& block);
  absl::flat_hash_map<uint64_t, LiveBlock> live_;
  uint64_t live_bytes_ = 0;
  uint64_t peak_live_bytes_ = 0;
  uint64_t peak_timestamp_ = 0;
  uint64_t allocated_bytes_ = 0;
  uint64_t double_allocations_ = 0;
  uint64_t unknown_releases_ = 0;
  uint64_t mismatched_releases_ = 0;
  std::vector<MismatchedRelease> mismatch_examples_;
};

}  // namespace memtrace::analyzer

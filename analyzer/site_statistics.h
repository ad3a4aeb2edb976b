// Per allocation site (stack, or the call kind when the trace has no stacks), the numbers
// heaptrack_print gives, plus glibc's verdicts: calls, bytes, peak contribution (what the site held
// when the whole heap peaked), leaked (held at the end), temporary allocations (freed before any
// other allocation of the same thread), the largest single request, and heap vs mmapped calls.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <vector>

#include "analyzer/event_facts.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct SiteNumbers {
  uint32_t stack_id = 0;
  RecordKind kind = RecordKind::kMalloc;  // the call that allocated (names the site without stacks)
  uint64_t calls = 0;
  uint64_t bytes = 0;
  uint64_t temporary = 0;
  uint64_t largest = 0;
  uint64_t heap_calls = 0;
  uint64_t mmapped_calls = 0;
  uint64_t live_bytes = 0;  // now (at the end of the pass)
  uint64_t live_blocks = 0;
  uint64_t peak_bytes = 0;  // at the heap's peak; see PeakBytes
  uint64_t peak_epoch = 0;
};

class SiteStatistics : public EventConsumer {
 public:
  void Apply(const Event& e) override;

  // The sites, each with peak_bytes resolved to its share of the heap's peak.
  std::vector<SiteNumbers> Sites() const;
  uint64_t peak_live_bytes() const { return peak_; }

 private:
  struct Block {
    uint32_t site;
    uint64_t size;
  };
  uint32_t SiteOf(uint32_t stack_id, RecordKind kind);
  // Keeps what the site held at the current peak before its live bytes change.
  void BeforeChange(SiteNumbers& site);

  absl::flat_hash_map<uint64_t, uint32_t> index_;  // (stack id, kind) -> site
  std::vector<SiteNumbers> sites_;
  absl::flat_hash_map<uint64_t, Block> live_;                // address -> block
  absl::flat_hash_map<uint32_t, uint64_t> last_allocation_;  // tid -> address of its latest allocation
  uint64_t live_total_ = 0;
  uint64_t peak_ = 0;
  uint64_t epoch_ = 0;  // bumped at every new peak
};

}  // namespace memtrace::analyzer

// The one per-site aggregator every report draws from. A site is an allocation stack, or the
// allocating call when the trace has no stack for it. Per site, the numbers heaptrack_print gives plus
// glibc's verdicts: calls, bytes, what the site holds now (during the pass: at the current event),
// the most it ever held, its share of the heap's peak (what it held when the whole heap first reached
// its highest live bytes), temporary allocations (freed before any other allocation of the same
// thread), the largest single request, heap vs mmapped calls. Sites are numbered densely in order of
// first appearance, so per-moment snapshots can refer to them by a small index.
//
// It reads live blocks from a HeapState, so its totals and peak equal `memtrace summary`'s: either one
// the pass already keeps (and applies after this consumer, so a block is looked up before it changes:
// one table and one cache miss per event instead of two), or a HeapState of its own.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "analyzer/event_facts.h"
#include "analyzer/heap_state.h"
#include "analyzer/time_series.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct SiteNumbers {
  uint32_t stack_id = 0;                  // 0: no stack was recorded
  RecordKind kind = RecordKind::kMalloc;  // the call that allocated (names the site without stacks)
  uint64_t calls = 0;
  uint64_t bytes = 0;  // requested in total
  uint64_t temporary = 0;
  uint64_t largest = 0;
  uint64_t heap_calls = 0;
  uint64_t mmapped_calls = 0;
  uint64_t live_bytes = 0;  // now (at the end of the pass)
  uint64_t live_blocks = 0;
  uint64_t max_live_bytes = 0;  // the most the site held at any moment
  uint64_t peak_bytes = 0;      // held at the heap's peak: resolved by Sites()
  uint64_t peak_epoch = 0;
};

class SiteStatistics : public EventConsumer {
 public:
  // `heap`: the pass's HeapState, applied after this consumer; null: keep one of its own.
  explicit SiteStatistics(const HeapState* heap = nullptr) : heap_(heap ? heap : &own_heap_) {}
  SiteStatistics(const SiteStatistics&) = delete;
  SiteStatistics& operator=(const SiteStatistics&) = delete;

  void Apply(const Event& e) override;

  // The sites as they stand now, by index; peak_bytes is resolved only in Sites().
  const std::vector<SiteNumbers>& sites() const { return sites_; }
  // A copy of the sites, each with peak_bytes resolved to its share of the heap's peak.
  std::vector<SiteNumbers> Sites() const;
  // The index of the site of (stack_id, kind), or -1 when it never allocated.
  int64_t Find(uint32_t stack_id, RecordKind kind) const;
  // The `n` sites holding the most live bytes now.
  std::vector<SiteBytes> TopLive(size_t n) const;
  uint64_t peak_live_bytes() const { return peak_; }

 private:
  uint32_t SiteOf(uint32_t stack_id, RecordKind kind);
  // Keeps what the site held at the current peak before its live bytes change.
  void BeforeChange(SiteNumbers& site);
  // Takes a block that is ending out of its site's live account.
  void Forget(const LiveBlock& block);

  HeapState own_heap_;
  const HeapState* heap_;
  // Where a site is found: stack ids are small and dense (the preload numbers them from 1), so sites
  // with a stack are found by position; those without (or with an implausibly large id) by key.
  static constexpr uint32_t kNoSite = ~uint32_t{0};
  static constexpr uint32_t kDenseStackIds = 1u << 24;
  std::vector<uint32_t> site_by_stack_;            // stack id -> site, kNoSite if none yet
  absl::flat_hash_map<uint64_t, uint32_t> index_;  // the other sites: (stack id, kind) -> site
  std::vector<SiteNumbers> sites_;
  absl::flat_hash_map<uint32_t, uint64_t> last_allocation_;  // tid -> address of its latest allocation
  // The entry of the thread of the previous event: consecutive events mostly come from one thread.
  uint32_t cached_tid_ = 0;
  uint64_t* cached_last_allocation_ = nullptr;
  uint64_t& LastAllocationOf(uint32_t tid);
  uint64_t live_total_ = 0;
  uint64_t peak_ = 0;
  uint64_t epoch_ = 0;  // bumped at every new peak
};

// Indexes of the `n` sites with the most of `measure`, largest first (ties: lower index first); sites
// with none are left out.
std::vector<uint32_t> RankSites(const std::vector<SiteNumbers>& sites, uint64_t SiteNumbers::*measure,
                                size_t n);

}  // namespace memtrace::analyzer

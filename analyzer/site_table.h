// Allocation sites (one per allocation stack) with what each allocated over the whole trace and what it
// still holds at the current moment of the pass. Sites are numbered densely in order of appearance,
// so per-moment snapshots can refer to them by a small index.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "analyzer/time_series.h"

namespace memtrace::analyzer {

struct SiteStats {
  uint32_t stack_id = 0;  // 0: the trace has no stack for these calls
  uint64_t calls = 0;
  uint64_t bytes = 0;  // requested in total
  uint64_t live_bytes = 0;
  uint64_t live_blocks = 0;
  uint64_t peak_live_bytes = 0;
};

class SiteTable {
 public:
  // The dense index of the site of `stack_id`, created on first use.
  uint32_t IndexOf(uint32_t stack_id);
  // The index of the site of `stack_id`, or -1 when it never allocated.
  int64_t Find(uint32_t stack_id) const;

  void Allocated(uint32_t stack_id, uint64_t bytes);
  void Released(uint32_t stack_id, uint64_t bytes);

  const std::vector<SiteStats>& sites() const { return sites_; }

  // Indexes of the `n` sites with the most of `measure`, largest first; sites with none are left out.
  std::vector<uint32_t> Top(size_t n, uint64_t SiteStats::*measure) const;
  // The `n` sites holding the most live bytes now.
  std::vector<SiteBytes> TopLive(size_t n) const;

 private:
  absl::flat_hash_map<uint32_t, uint32_t> index_;
  std::vector<SiteStats> sites_;
};

}  // namespace memtrace::analyzer

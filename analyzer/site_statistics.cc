#include "analyzer/site_statistics.h"

#include <algorithm>

namespace memtrace::analyzer {

uint32_t SiteStatistics::SiteOf(uint32_t stack_id, RecordKind kind) {
  // With a stack the stack alone names the site; without, the allocating call does.
  uint64_t key = stack_id ? (uint64_t{stack_id} << 8) : static_cast<uint8_t>(kind);
  auto [it, inserted] = index_.try_emplace(key, static_cast<uint32_t>(sites_.size()));
  if (inserted) {
    sites_.emplace_back();
    sites_.back().stack_id = stack_id;
    sites_.back().kind = kind;
  }
  return it->second;
}

void SiteStatistics::BeforeChange(SiteNumbers& site) {
  if (site.peak_epoch != epoch_) {
    site.peak_bytes = site.live_bytes;
    site.peak_epoch = epoch_;
  }
}

void SiteStatistics::Apply(const Event& e) {
  if (IsRelease(e)) {
    auto it = live_.find(e.address);
    if (it == live_.end()) return;
    SiteNumbers& site = sites_[it->second.site];
    BeforeChange(site);
    site.live_bytes -= it->second.size;
    --site.live_blocks;
    live_total_ -= it->second.size;
    auto last = last_allocation_.find(e.tid);
    if (last != last_allocation_.end() && last->second == e.address &&
        e.kind != RecordKind::kReallocRelease) {
      ++site.temporary;
    }
    live_.erase(it);
    return;
  }
  if (!IsAllocation(e)) return;
  if (IsResizeInPlace(e)) {
    auto it = live_.find(e.address);
    if (it != live_.end()) {
      SiteNumbers& old = sites_[it->second.site];
      BeforeChange(old);
      old.live_bytes -= it->second.size;
      --old.live_blocks;
      live_total_ -= it->second.size;
      live_.erase(it);
    }
  }
  uint32_t index = SiteOf(e.stack_id, e.kind);
  SiteNumbers& site = sites_[index];
  uint64_t bytes = RequestedBytes(e);
  BeforeChange(site);
  ++site.calls;
  site.bytes += bytes;
  site.largest = std::max(site.largest, bytes);
  Verdict verdict = VerdictOf(e);
  if (verdict == Verdict::kHeap) ++site.heap_calls;
  if (verdict == Verdict::kMmapped) ++site.mmapped_calls;
  site.live_bytes += bytes;
  ++site.live_blocks;
  live_[e.address] = {index, bytes};
  last_allocation_[e.tid] = e.address;
  live_total_ += bytes;
  if (live_total_ > peak_) {
    peak_ = live_total_;
    ++epoch_;  // every site's value at this peak is its live value until it next changes
  }
}

std::vector<SiteNumbers> SiteStatistics::Sites() const {
  std::vector<SiteNumbers> sites = sites_;
  for (SiteNumbers& site : sites) {
    if (site.peak_epoch != epoch_) site.peak_bytes = site.live_bytes;
  }
  return sites;
}

}  // namespace memtrace::analyzer

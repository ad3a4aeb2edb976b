#include "analyzer/site_statistics.h"

#include <algorithm>

namespace memtrace::analyzer {

namespace {

// With a stack the stack alone names the site; without, the allocating call does.
uint64_t SiteKey(uint32_t stack_id, RecordKind kind) {
  return stack_id ? (uint64_t{stack_id} << 8) : static_cast<uint8_t>(kind);
}

}  // namespace

uint32_t SiteStatistics::SiteOf(uint32_t stack_id, RecordKind kind) {
  uint32_t* slot;
  if (stack_id && stack_id < kDenseStackIds) {
    if (stack_id < site_by_stack_.size() && site_by_stack_[stack_id] != kNoSite) [[likely]] {
      return site_by_stack_[stack_id];
    }
    if (stack_id >= site_by_stack_.size())
      site_by_stack_.resize(std::max<size_t>(stack_id + 1, site_by_stack_.size() * 2), kNoSite);
    slot = &site_by_stack_[stack_id];
  } else {
    auto [it, inserted] = index_.try_emplace(SiteKey(stack_id, kind), kNoSite);
    if (!inserted) return it->second;
    slot = &it->second;
  }
  *slot = static_cast<uint32_t>(sites_.size());
  sites_.emplace_back();
  sites_.back().stack_id = stack_id;
  sites_.back().kind = kind;
  return *slot;
}

int64_t SiteStatistics::Find(uint32_t stack_id, RecordKind kind) const {
  if (stack_id && stack_id < kDenseStackIds) {
    bool known = stack_id < site_by_stack_.size() && site_by_stack_[stack_id] != kNoSite;
    return known ? static_cast<int64_t>(site_by_stack_[stack_id]) : -1;
  }
  auto it = index_.find(SiteKey(stack_id, kind));
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

uint64_t& SiteStatistics::LastAllocationOf(uint32_t tid) {
  if (!cached_last_allocation_ || tid != cached_tid_) {
    cached_tid_ = tid;
    // Inserting may move other threads' entries, but this lookup is the only insertion and is redone
    // whenever the thread changes, so the cached pointer is never stale.
    cached_last_allocation_ = &last_allocation_[tid];
  }
  return *cached_last_allocation_;
}

void SiteStatistics::BeforeChange(SiteNumbers& site) {
  if (site.peak_epoch != epoch_) {
    site.peak_bytes = site.live_bytes;
    site.peak_epoch = epoch_;
  }
}

void SiteStatistics::Forget(const LiveBlock& block) {
  SiteNumbers& site = sites_[SiteOf(block.stack_id, block.kind)];
  BeforeChange(site);
  site.live_bytes -= block.size;
  --site.live_blocks;
  live_total_ -= block.size;
}

void SiteStatistics::Apply(const Event& e) {
  if (!IsRelease(e) && !IsAllocation(e)) return;
  // The block at the address, as it was before this event: a release, an in-place resize and an
  // address handed out again without a release all end it.
  auto found = heap_->live().find(e.address);
  const LiveBlock* block = found == heap_->live().end() ? nullptr : &found->second;
  if (IsRelease(e)) {
    if (block) {
      if (LastAllocationOf(e.tid) == e.address && e.kind != RecordKind::kReallocRelease) {
        ++sites_[SiteOf(block->stack_id, block->kind)].temporary;
      }
      Forget(*block);
    }
    if (heap_ == &own_heap_) own_heap_.Apply(e);
    return;
  }
  if (block) Forget(*block);
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
  site.max_live_bytes = std::max(site.max_live_bytes, site.live_bytes);
  LastAllocationOf(e.tid) = e.address;
  live_total_ += bytes;
  if (live_total_ > peak_) {
    peak_ = live_total_;
    ++epoch_;  // every site's value at this peak is its live value until it next changes
  }
  if (heap_ == &own_heap_) own_heap_.Apply(e);
}

std::vector<SiteNumbers> SiteStatistics::Sites() const {
  std::vector<SiteNumbers> sites = sites_;
  for (SiteNumbers& site : sites) {
    if (site.peak_epoch != epoch_) site.peak_bytes = site.live_bytes;
  }
  return sites;
}

std::vector<SiteBytes> SiteStatistics::TopLive(size_t n) const {
  std::vector<SiteBytes> top;
  for (uint32_t i : RankSites(sites_, &SiteNumbers::live_bytes, n)) {
    top.push_back({i, sites_[i].live_bytes, sites_[i].live_blocks});
  }
  return top;
}

std::vector<uint32_t> RankSites(const std::vector<SiteNumbers>& sites, uint64_t SiteNumbers::*measure,
                                size_t n) {
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < sites.size(); ++i) {
    if (sites[i].*measure) order.push_back(i);
  }
  auto larger = [&](uint32_t a, uint32_t b) {
    return sites[a].*measure != sites[b].*measure ? sites[a].*measure > sites[b].*measure : a < b;
  };
  n = std::min(n, order.size());
  std::partial_sort(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(n), order.end(), larger);
  order.resize(n);
  return order;
}

}  // namespace memtrace::analyzer

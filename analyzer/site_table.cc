#include "analyzer/site_table.h"

#include <algorithm>

namespace memtrace::analyzer {

uint32_t SiteTable::IndexOf(uint32_t stack_id) {
  auto [it, inserted] = index_.try_emplace(stack_id, static_cast<uint32_t>(sites_.size()));
  if (inserted) sites_.emplace_back().stack_id = stack_id;
  return it->second;
}

int64_t SiteTable::Find(uint32_t stack_id) const {
  auto it = index_.find(stack_id);
  return it == index_.end() ? -1 : it->second;
}

void SiteTable::Allocated(uint32_t stack_id, uint64_t bytes) {
  SiteStats& site = sites_[IndexOf(stack_id)];
  ++site.calls;
  site.bytes += bytes;
  site.live_bytes += bytes;
  ++site.live_blocks;
  site.peak_live_bytes = std::max(site.peak_live_bytes, site.live_bytes);
}

void SiteTable::Released(uint32_t stack_id, uint64_t bytes) {
  SiteStats& site = sites_[IndexOf(stack_id)];
  site.live_bytes -= std::min(site.live_bytes, bytes);
  if (site.live_blocks) --site.live_blocks;
}

std::vector<uint32_t> SiteTable::Top(size_t n, uint64_t SiteStats::*measure) const {
  std::vector<uint32_t> order;
  for (uint32_t i = 0; i < sites_.size(); ++i) {
    if (sites_[i].*measure) order.push_back(i);
  }
  auto larger = [&](uint32_t a, uint32_t b) {
    return sites_[a].*measure != sites_[b].*measure ? sites_[a].*measure > sites_[b].*measure : a < b;
  };
  n = std::min(n, order.size());
  std::partial_sort(order.begin(), order.begin() + n, order.end(), larger);
  order.resize(n);
  return order;
}

std::vector<SiteBytes> SiteTable::TopLive(size_t n) const {
  std::vector<SiteBytes> top;
  for (uint32_t i : Top(n, &SiteStats::live_bytes))
    top.push_back({i, sites_[i].live_bytes, sites_[i].live_blocks});
  return top;
}

}  // namespace memtrace::analyzer

#include "analyzer/mapping_lifetimes.h"

#include <algorithm>
#include <iterator>

namespace memtrace::analyzer {

const char* StartName(MappingLifetime::Start start) {
  switch (start) {
    case MappingLifetime::Start::kAtStart: return "mapped before tracing";
    case MappingLifetime::Start::kBirth: return "birth";
    case MappingLifetime::Start::kResize: return "resize";
    case MappingLifetime::Start::kDiscovered: return "discovered";
  }
  return "birth";
}

uint64_t MappingLifetimes::dropped_total() const {
  uint64_t total = 0;
  for (uint64_t n : dropped_) total += n;
  return total;
}

void MappingLifetimes::Open(MappingLifetime lifetime) {
  if (lifetime.origin == Origin::kMemtrace || lifetime.region_id == 0) return;
  if (lifetimes_.size() >= max_lifetimes_) {
    ++dropped_[static_cast<size_t>(lifetime.origin)];
    return;
  }
  open_[lifetime.region_id] = {lifetimes_.size(), lifetime.begin, lifetime.end};
  lifetimes_.push_back(std::move(lifetime));
}

void MappingLifetimes::End(uint64_t region_id, const format::Event& e) {
  auto it = open_.find(region_id);
  if (it == open_.end()) return;
  MappingLifetime& l = lifetimes_[it->second.index];
  l.ended = true;
  l.death_ns = e.timestamp;
  l.ended_by = e.kind;
  open_.erase(it);
}

void MappingLifetimes::Apply(const format::Event& e) {
  const bool first_snapshot = !maps_.saw_snapshot();
  erased_.clear();
  maps_.ClearChanges();  // only this event's changes matter here
  maps_.Apply(e);
  for (const MapChange& c : maps_.changes()) {
    MappingLifetime::Start start;
    switch (c.type) {
      case MapChange::Type::kBirth: start = MappingLifetime::Start::kBirth; break;
      case MapChange::Type::kResize: start = MappingLifetime::Start::kResize; break;
      case MapChange::Type::kDiscovered: start = MappingLifetime::Start::kDiscovered; break;
      default: continue;
    }
    // The change carries the extent and origin it was made with; sharing comes from the map.
    const Region* region = maps_.regions().Find(c.begin, nullptr);
    bool shared = region && region->id == c.region_id && region->shared;
    Open({start, c.region_id, c.begin, c.end, c.prot, shared, c.origin, c.path, c.cause, c.tid, c.stack_id,
          c.timestamp});
  }
  if (e.kind != format::RecordKind::kMapsSnapshotEnd) return EndErased(e);
  if (first_snapshot && maps_.saw_snapshot()) {
    // What was mapped before tracing began: the first snapshot's regions that no change made (adopting
    // stamps those with the snapshot's time).
    for (const auto& [begin, region] : maps_.regions().regions()) {
      if (open_.contains(region.id) || region.birth_ns != e.timestamp) continue;
      Open({MappingLifetime::Start::kAtStart, region.id, begin, region.end, region.prot, region.shared,
            region.origin, region.path, region.cause, region.tid, region.stack_id, region.birth_ns});
    }
  }
  ReconcileAll(e);
}

void MappingLifetimes::EndErased(const format::Event& e) {
  const auto& map = maps_.regions().regions();
  for (uint64_t id : erased_) {
    auto open = open_.find(id);
    if (open == open_.end()) continue;
    auto it = map.upper_bound(open->second.begin);
    if (it != map.begin() && std::prev(it)->second.end > open->second.begin) --it;
    bool alive = false;
    for (; it != map.end() && it->first < open->second.end && !alive; ++it) alive = it->second.id == id;
    if (!alive) End(id, e);
  }
}

void MappingLifetimes::ReconcileAll(const format::Event& e) {
  absl::flat_hash_map<uint64_t, std::pair<uint64_t, uint64_t>> extent;  // id -> hull of its regions
  for (const auto& [begin, region] : maps_.regions().regions()) {
    if (!open_.contains(region.id)) continue;
    auto [it, inserted] = extent.try_emplace(region.id, begin, region.end);
    if (!inserted) it->second = {std::min(it->second.first, begin), std::max(it->second.second, region.end)};
  }
  std::vector<uint64_t> gone;
  for (auto& [id, open] : open_) {
    auto it = extent.find(id);
    if (it == extent.end()) {
      gone.push_back(id);
    } else {
      open.begin = std::min(open.begin, it->second.first);
      open.end = std::max(open.end, it->second.second);
    }
  }
  for (uint64_t id : gone) End(id, e);
}

}  // namespace memtrace::analyzer

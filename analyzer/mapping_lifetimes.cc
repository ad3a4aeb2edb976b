#include "analyzer/mapping_lifetimes.h"

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
  open_[lifetime.region_id] = lifetimes_.size();
  lifetimes_.push_back(std::move(lifetime));
}

void MappingLifetimes::Apply(const format::Event& e) {
  const size_t changes_before = maps_.changes().size();
  const bool first_snapshot = !maps_.saw_snapshot();
  maps_.Apply(e);
  const auto& changes = maps_.changes();
  bool adopted = first_snapshot && maps_.saw_snapshot();
  bool snapshot = e.kind == format::RecordKind::kMapsSnapshotEnd || e.kind == format::RecordKind::kOwnMapping;
  if (changes.size() == changes_before && !adopted && !snapshot) return;

  for (size_t i = changes_before; i < changes.size(); ++i) {
    const MapChange& c = changes[i];
    MappingLifetime::Start start;
    switch (c.type) {
      case MapChange::Type::kBirth: start = MappingLifetime::Start::kBirth; break;
      case MapChange::Type::kResize: start = MappingLifetime::Start::kResize; break;
      case MapChange::Type::kDiscovered: start = MappingLifetime::Start::kDiscovered; break;
      default: continue;
    }
    // The region as it was made: the change carries its extent and origin; sharing comes from the map.
    uint64_t first = 0;
    const Region* region = maps_.regions().Find(c.begin, &first);
    bool same = region && region->id == c.region_id;
    Open({start, c.region_id, c.begin, c.end, c.prot, same && region->shared, c.origin, c.path, c.cause,
          c.tid, c.stack_id, c.timestamp});
  }
  if (adopted) {
    // What was mapped before tracing began: the first snapshot's regions that no change made (adopting
    // stamps those with the snapshot's time).
    for (const auto& [begin, region] : maps_.regions().regions()) {
      if (open_.contains(region.id) || region.birth_ns != e.timestamp) continue;
      Open({MappingLifetime::Start::kAtStart, region.id, begin, region.end, region.prot, region.shared,
            region.origin, region.path, region.cause, region.tid, region.stack_id, region.birth_ns});
    }
  }
  Reconcile(e);
}

void MappingLifetimes::Reconcile(const format::Event& e) {
  ++epoch_;
  mapped_bytes_ = 0;
  for (const auto& [begin, region] : maps_.regions().regions()) {
    if (region.origin == Origin::kMemtrace) continue;
    mapped_bytes_ += region.end - begin;
    if (open_.contains(region.id)) seen_[region.id] = epoch_;
  }
  for (auto it = open_.begin(); it != open_.end();) {
    auto seen = seen_.find(it->first);
    if (seen != seen_.end() && seen->second == epoch_) {
      ++it;
      continue;
    }
    MappingLifetime& l = lifetimes_[it->second];
    l.ended = true;
    l.death_ns = e.timestamp;
    l.ended_by = e.kind;
    if (seen != seen_.end()) seen_.erase(seen);
    open_.erase(it++);
  }
}

}  // namespace memtrace::analyzer

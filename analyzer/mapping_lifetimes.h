// Every mapping the maps reconstruction (MapsTimeline) knows, as a lifetime: from its birth (or from
// the first /proc/self/maps snapshot, for what existed before tracing) until its last byte is unmapped,
// replaced or moved, with who made it and the call that ended it. A resize (mremap, a break move, an
// arena heap growing) ends one lifetime and starts the next. The Chrome export draws these as slices.
//
// Bounded: after `max_lifetimes` births further ones are only counted per origin.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/maps_timeline.h"

namespace memtrace::analyzer {

struct MappingLifetime {
  enum class Start : uint8_t { kAtStart, kBirth, kResize, kDiscovered };
  Start start = Start::kBirth;
  uint64_t region_id = 0;
  uint64_t begin = 0;  // extent when it appeared
  uint64_t end = 0;
  uint64_t prot = 0;  // protection when it appeared
  bool shared = false;
  Origin origin = Origin::kOther;
  std::string path;
  format::RecordKind cause = format::RecordKind::kMmap;  // the call that made it
  uint32_t tid = 0;
  uint32_t stack_id = 0;
  uint64_t birth_ns = 0;  // trace time
  bool ended = false;     // false: still mapped when the trace ends
  uint64_t death_ns = 0;
  format::RecordKind ended_by = format::RecordKind::kMunmap;  // the event that took its last byte
};

const char* StartName(MappingLifetime::Start start);

constexpr size_t kOriginCount = static_cast<size_t>(Origin::kOther) + 1;

class MappingLifetimes : public EventConsumer {
 public:
  explicit MappingLifetimes(size_t max_lifetimes) : max_lifetimes_(max_lifetimes) {
    maps_.set_erasure_log(&erased_);
  }
  MappingLifetimes(const MappingLifetimes&) = delete;
  MappingLifetimes& operator=(const MappingLifetimes&) = delete;

  void Begin(const TraceInfo& info) override { maps_.Begin(info); }
  void Apply(const format::Event& e) override;

  // In order of appearance. memtrace's own memory is left out, as `memtrace maps` hides it.
  const std::vector<MappingLifetime>& lifetimes() const { return lifetimes_; }
  // Lifetimes left out once the cap was reached, by origin.
  const std::array<uint64_t, kOriginCount>& dropped() const { return dropped_; }
  uint64_t dropped_total() const;
  // Bytes mapped now, memtrace's own memory aside.
  uint64_t mapped_bytes() const {
    return maps_.regions().TotalBytes() - maps_.regions().BytesOf(Origin::kMemtrace);
  }
  // The reconstruction being followed; its changes() holds only the last event's.
  const MapsTimeline& maps() const { return maps_; }

 private:
  struct OpenLifetime {
    size_t index;  // in lifetimes_
    // Where its bytes can be: its extent at birth, widened when a snapshot merged it with neighbours.
    uint64_t begin;
    uint64_t end;
  };

  void Open(MappingLifetime lifetime);
  void End(uint64_t region_id, const format::Event& e);
  // After an event that erased ranges: ends the lifetimes whose last byte went. Cost: the erased
  // regions and the extent of each lifetime they belonged to, not the whole map.
  void EndErased(const format::Event& e);
  // After a snapshot was adopted (every region may have been replaced): checks every open lifetime.
  void ReconcileAll(const format::Event& e);

  MapsTimeline maps_;
  size_t max_lifetimes_;
  std::vector<MappingLifetime> lifetimes_;
  absl::flat_hash_map<uint64_t, OpenLifetime> open_;  // by region id
  std::array<uint64_t, kOriginCount> dropped_{};
  std::vector<uint64_t> erased_;  // region ids the current event erased (MapsTimeline's erasure log)
};

}  // namespace memtrace::analyzer

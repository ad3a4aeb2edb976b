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
  explicit MappingLifetimes(size_t max_lifetimes) : max_lifetimes_(max_lifetimes) {}

  void Begin(const TraceInfo& info) override { maps_.Begin(info); }
  void Apply(const format::Event& e) override;

  // In order of appearance. memtrace's own memory is left out, as `memtrace maps` hides it.
  const std::vector<MappingLifetime>& lifetimes() const { return lifetimes_; }
  // Lifetimes left out once the cap was reached, by origin.
  const std::array<uint64_t, kOriginCount>& dropped() const { return dropped_; }
  uint64_t dropped_total() const;
  // Bytes mapped now (memtrace's own memory aside), as of the last change.
  uint64_t mapped_bytes() const { return mapped_bytes_; }
  const MapsTimeline& maps() const { return maps_; }

 private:
  void Open(MappingLifetime lifetime);
  // Ends every open lifetime none of whose bytes is left, and recounts the mapped bytes.
  void Reconcile(const format::Event& e);

  MapsTimeline maps_;
  size_t max_lifetimes_;
  std::vector<MappingLifetime> lifetimes_;
  absl::flat_hash_map<uint64_t, size_t> open_;  // region id -> index in lifetimes_
  std::array<uint64_t, kOriginCount> dropped_{};
  uint64_t mapped_bytes_ = 0;
  uint64_t epoch_ = 0;
  absl::flat_hash_map<uint64_t, uint64_t> seen_;  // region id -> epoch of the last reconcile that saw it
};

}  // namespace memtrace::analyzer

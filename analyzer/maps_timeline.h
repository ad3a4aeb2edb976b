// Which mappings the process had, and when: the reconstruction behind `memtrace maps`.
//
// It starts from the /proc/self/maps snapshot taken when tracing began and replays every mapping change
// the trace shows: the program's mmap/munmap/mremap/mprotect, malloc's mmapped chunks (from chunk
// headers), the brk heap (from break moves), thread stacks, thread-arena heaps and memtrace's own
// memory; and, as changes outside the map, posix_spawn's transient child stacks. Each later snapshot (dlopen,
// dlclose, exit) is compared with the reconstruction (at exit that comparison is `--verify`), then adopted,
// so whatever libc did unseen is named from then on.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/region_map.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct MapChange {
  // kTransient: mapped and unmapped inside one call, at an address the trace does not know (glibc's
  // posix_spawn child stack): begin is 0 and end the length. It never enters the map.
  enum class Type : uint8_t { kBirth, kDeath, kResize, kProtect, kDiscovered, kVanished, kTransient };
  Type type = Type::kBirth;
  uint64_t timestamp = 0;
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t prot = 0;
  Origin origin = Origin::kOther;
  format::RecordKind cause = format::RecordKind::kMmap;
  uint32_t tid = 0;
  uint32_t stack_id = 0;
  std::string path;
  uint64_t region_id = 0;             // births, resizes, discoveries: the Region::id of the range they made
  format::SnapshotReason snapshot{};  // discoveries and vanishings: why the snapshot was taken
};

const char* ChangeName(MapChange::Type type);
// The change's cause as reports print it: the call, or for a snapshot's finding why it was taken.
std::string CauseName(const MapChange& change);

// A range where the reconstruction and the kernel's own /proc/self/maps disagree.
struct MapsDifference {
  uint64_t begin = 0;
  uint64_t end = 0;
  uint64_t prot = 0;
  bool in_kernel = false;  // true: the kernel had it and the reconstruction did not; false: the reverse
  std::string path;        // the kernel's name for it, when in_kernel
};

struct MapsVerification {
  bool done = false;  // an exit snapshot was found
  std::vector<MapsDifference> differences;
};

class MapsTimeline : public EventConsumer {
 public:
  // Events after `stop_at_ns` (trace time, absolute) are not applied.
  explicit MapsTimeline(uint64_t stop_at_ns = UINT64_MAX) : stop_at_(stop_at_ns) {}

  void Begin(const TraceInfo& info) override;
  void Apply(const format::Event& e) override;

  const RegionMap& regions() const { return regions_; }
  const std::vector<MapChange>& changes() const { return changes_; }
  const MapsVerification& verification() const { return verification_; }
  bool saw_snapshot() const { return snapshots_adopted_ > 0; }

  // From now on, the ids of regions that an event removes or overwrites, wholly or in part, are
  // appended to `log` (the caller drains it), except when a snapshot is adopted: then every region may
  // have changed. Lets a follower of region ids avoid rescanning the whole map after each event.
  void set_erasure_log(std::vector<uint64_t>* log) { erasure_log_ = log; }
  // Forgets the changes recorded so far: for a follower that consumes them event by event, so that a
  // long trace's history is not held twice.
  void ClearChanges() { changes_.clear(); }

 private:
  Origin Classify(uint64_t begin, const Region& region) const;
  void AdoptSnapshot(const format::Event& end);
  void Verify();
  void MoveBreak(const format::Event& e, uint64_t after);
  void Birth(uint64_t begin, Region region, const format::Event& e,
             MapChange::Type type = MapChange::Type::kBirth);
  void Death(uint64_t begin, uint64_t end, const format::Event& e);
  void ApplyCall(const format::Event& e);
  // regions_.Insert / Remove, noting the ids they erase.
  void InsertRegion(uint64_t begin, const Region& region);
  void RemoveRange(uint64_t begin, uint64_t end);
  void NoteErasures(uint64_t begin, uint64_t end);
  // Ranges changed by events while a snapshot is being read (other threads' calls interleave with
  // its entries): the snapshot may show them before or after the change, so adoption keeps the
  // reconstruction's view of them.
  void NoteTouched(uint64_t begin, uint64_t end);
  bool Touched(uint64_t begin, uint64_t end) const;
  void KeepTouchedRanges(RegionMap& adopted) const;

  uint64_t stop_at_;
  uint64_t trace_inode_ = 0;
  uint64_t heap_start_ = 0;
  RegionMap regions_;
  RegionMap own_;       // memtrace's anonymous memory (stack table, unwinder cache)
  RegionMap snapshot_;  // the snapshot being read
  int64_t snapshot_sequence_ = 0;
  bool snapshot_open_ = false;  // entries of snapshot_sequence_ read, its end not yet
  std::vector<std::pair<uint64_t, uint64_t>> touched_;
  int snapshots_adopted_ = 0;
  uint64_t last_region_id_ = 0;
  std::vector<uint64_t>* erasure_log_ = nullptr;
  std::vector<MapChange> changes_;
  MapsVerification verification_;
};

}  // namespace memtrace::analyzer

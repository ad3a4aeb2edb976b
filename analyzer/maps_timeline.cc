#include "analyzer/maps_timeline.h"

#include <sys/mman.h>

#include <algorithm>
#include <iterator>

#include "analyzer/event_facts.h"
#include "format/record_codec.h"

namespace memtrace::analyzer {

namespace {

constexpr uint64_t kPage = 4096;
using format::kArenaHeapBytes;

uint64_t PageUp(uint64_t bytes) { return (bytes + kPage - 1) & ~(kPage - 1); }

bool IsBracketed(const std::string& path) { return !path.empty() && path[0] == '['; }

// The regions of `map` with memtrace's own memory cut out and neighbours of equal protection joined:
// the form in which the reconstruction and a snapshot are compared (names and VMA boundaries aside).
std::vector<std::pair<uint64_t, Region>> ProtectionCoverage(const RegionMap& map, const RegionMap& own) {
  RegionMap copy;
  for (const auto& [begin, region] : map.regions()) {
    if (region.origin != Origin::kMemtrace) copy.Insert(begin, region);
  }
  for (const auto& [begin, region] : own.regions()) copy.Remove(begin, region.end);
  std::vector<std::pair<uint64_t, Region>> out;
  for (const auto& [begin, region] : copy.regions()) {
    if (!out.empty() && out.back().second.end == begin && out.back().second.prot == region.prot) {
      out.back().second.end = region.end;
    } else {
      out.emplace_back(begin, region);
    }
  }
  return out;
}

}  // namespace

std::string CauseName(const MapChange& change) {
  if (change.cause != RecordKind::kMapsSnapshotEnd) return format::NameOf(change.cause);
  switch (change.snapshot) {
    case format::SnapshotReason::kStart: return "maps-snapshot (start)";
    case format::SnapshotReason::kExit: return "maps-snapshot (exit)";
    case format::SnapshotReason::kDlopen: return "maps-snapshot (dlopen)";
    case format::SnapshotReason::kDlclose: return "maps-snapshot (dlclose)";
    case format::SnapshotReason::kPeriodic: return "maps-snapshot (periodic check)";
    case format::SnapshotReason::kLibcCall: return "maps-snapshot (after setlocale/newlocale/iconv_open)";
  }
  return "maps-snapshot";
}

const char* ChangeName(MapChange::Type type) {
  switch (type) {
    case MapChange::Type::kBirth: return "birth";
    case MapChange::Type::kDeath: return "death";
    case MapChange::Type::kResize: return "resize";
    case MapChange::Type::kProtect: return "protect";
    case MapChange::Type::kDiscovered: return "discovered";
    case MapChange::Type::kVanished: return "vanished";
    case MapChange::Type::kTransient: return "transient";
  }
  return "birth";
}

void MapsTimeline::NoteErasures(uint64_t begin, uint64_t end) {
  if (!erasure_log_ || begin >= end) return;
  const auto& map = regions_.regions();
  auto it = map.upper_bound(begin);
  if (it != map.begin() && std::prev(it)->second.end > begin) --it;
  for (; it != map.end() && it->first < end; ++it) erasure_log_->push_back(it->second.id);
}

void MapsTimeline::InsertRegion(uint64_t begin, const Region& region) {
  NoteErasures(begin, region.end);
  NoteTouched(begin, region.end);
  regions_.Insert(begin, region);
}

void MapsTimeline::RemoveRange(uint64_t begin, uint64_t end) {
  NoteErasures(begin, end);
  NoteTouched(begin, end);
  regions_.Remove(begin, end);
}

void MapsTimeline::NoteTouched(uint64_t begin, uint64_t end) {
  if (snapshot_open_) touched_.emplace_back(begin, end);
}

bool MapsTimeline::Touched(uint64_t begin, uint64_t end) const {
  for (const auto& [b, e] : touched_) {
    if (b < end && begin < e) return true;
  }
  return false;
}

void MapsTimeline::KeepTouchedRanges(RegionMap& adopted) const {
  for (const auto& [begin, end] : touched_) {
    adopted.Remove(begin, end);
    const auto& known = regions_.regions();
    auto it = known.upper_bound(begin);
    if (it != known.begin()) --it;
    for (; it != known.end() && it->first < end; ++it) {
      if (it->second.end <= begin) continue;
      uint64_t from = std::max(begin, it->first);
      Region piece = it->second;
      piece.end = std::min(end, piece.end);
      if (!piece.path.empty() && !IsBracketed(piece.path)) piece.offset += from - it->first;
      adopted.Insert(from, piece);
    }
  }
}

void MapsTimeline::Begin(const TraceInfo& info) {
  trace_inode_ = info.header.trace_inode;
  heap_start_ = info.header.initial_break;
}

Origin MapsTimeline::Classify(uint64_t begin, const Region& region) const {
  if (own_.Find(begin, nullptr)) return Origin::kMemtrace;
  if (region.path == "[heap]") return Origin::kHeap;
  if (region.path == "[stack]") return Origin::kMainStack;
  if (region.path.rfind("[v", 0) == 0) return Origin::kKernel;  // [vdso], [vvar], [vvar_vclock], [vsyscall]
  // Shared anonymous memory shows as /dev/zero (deleted): only a program asks for it (MAP_SHARED|
  // MAP_ANONYMOUS), typically before a fork.
  if (region.shared && region.path.rfind("/dev/zero", 0) == 0) return Origin::kProgram;
  if (!region.path.empty() && !IsBracketed(region.path)) return Origin::kLoader;
  return Origin::kOther;
}

void MapsTimeline::Birth(uint64_t begin, Region region, const format::Event& e, MapChange::Type type) {
  region.birth_ns = e.timestamp;
  region.cause = e.kind;
  region.tid = e.tid;
  region.stack_id = e.stack_id;
  region.id = ++last_region_id_;
  changes_.push_back({type, e.timestamp, begin, region.end, region.prot, region.origin, e.kind, e.tid,
                      e.stack_id, region.path, region.id});
  InsertRegion(begin, region);
}

void MapsTimeline::Death(uint64_t begin, uint64_t end, const format::Event& e) {
  uint64_t first = 0;
  const Region* region = regions_.Find(begin, &first);
  Origin origin = region ? region->origin : Origin::kOther;
  std::string path = region ? region->path : "";
  changes_.push_back(
      {MapChange::Type::kDeath, e.timestamp, begin, end, 0, origin, e.kind, e.tid, e.stack_id, path});
  RemoveRange(begin, end);
}

void MapsTimeline::MoveBreak(const format::Event& e, uint64_t after) {
  if (after <= heap_start_) {
    Death(heap_start_, PageUp(e.brk_before), e);
    return;
  }
  uint64_t first = 0;
  if (const Region* current = regions_.Find(heap_start_, &first); current && current->end > PageUp(after)) {
    RemoveRange(PageUp(after), current->end);  // the break came down: the tail is gone
  }
  Region heap;
  heap.end = PageUp(after);
  heap.prot = PROT_READ | PROT_WRITE;
  heap.path = "[heap]";
  heap.origin = Origin::kHeap;
  bool existed = regions_.Find(heap_start_, nullptr) != nullptr;
  Birth(heap_start_, heap, e, existed ? MapChange::Type::kResize : MapChange::Type::kBirth);
}

void MapsTimeline::ApplyCall(const format::Event& e) {
  Region region;
  region.prot = PROT_READ | PROT_WRITE;
  switch (format::ShapeOf(e.kind)) {
    case Shape::kMmap:
      if (e.address == ~uint64_t{0}) return;  // MAP_FAILED
      region.end = e.address + PageUp(e.size);
      region.prot = e.prot;
      region.shared = e.map_flags & MAP_SHARED;
      region.offset = e.offset;
      region.origin = Origin::kProgram;
      return Birth(e.address, region, e);
    case Shape::kMunmap:
      if (e.result == 0) Death(e.address, e.address + PageUp(e.size), e);
      return;
    case Shape::kMremap: {
      if (e.address == ~uint64_t{0}) return;
      uint64_t first = 0;
      const Region* old = regions_.Find(e.old_address, &first);
      if (old) region = *old;
      region.origin = old ? old->origin : Origin::kProgram;
      RemoveRange(e.old_address, e.old_address + PageUp(e.old_size));
      region.end = e.address + PageUp(e.size);
      return Birth(e.address, region, e, MapChange::Type::kResize);
    }
    case Shape::kMprotect:
      if (e.kind == RecordKind::kMprotect && e.result == 0) {
        NoteTouched(e.address, e.address + PageUp(e.size));
        regions_.Protect(e.address, e.address + PageUp(e.size), e.prot);
        changes_.push_back({MapChange::Type::kProtect, e.timestamp, e.address, e.address + PageUp(e.size),
                            e.prot, Origin::kProgram, e.kind, e.tid, e.stack_id, ""});
      }
      return;
    case Shape::kRelease:
      if (e.flags & format::kFlagMmapped) Death(MappingBase(e), MappingBase(e) + MappingLength(e), e);
      return;
    default: break;
  }
  if (IsAllocation(e) && VerdictOf(e) == Verdict::kMmapped) {
    if (IsResizeInPlace(e)) {  // mremap of the chunk's mapping: drop the old extent first
      uint64_t first = 0;
      if (const Region* old = regions_.Find(MappingBase(e), &first)) RemoveRange(first, old->end);
    }
    region.end = MappingBase(e) + MappingLength(e);
    region.origin = Origin::kAllocator;
    Birth(MappingBase(e), region, e);
  }
}

void MapsTimeline::Apply(const format::Event& e) {
  if (e.timestamp > stop_at_) return;
  if (e.flags & format::kFlagBrkMoved && !format::IsMeta(e.kind)) MoveBreak(e, e.brk_after);
  switch (e.kind) {
    case RecordKind::kStartupBreakMove: return MoveBreak(e, e.brk_after);
    case RecordKind::kMapEntry: {
      if (e.param != snapshot_sequence_) {
        snapshot_.Clear();
        snapshot_sequence_ = e.param;
        snapshot_open_ = true;
        touched_.clear();
      }
      Region region;
      region.end = e.address + e.size;
      region.prot = e.prot;
      region.shared = e.map_flags & MAP_SHARED;
      region.offset = e.offset;
      region.path.assign(reinterpret_cast<const char*>(e.bytes), e.byte_count);
      region.origin = (trace_inode_ && e.count == trace_inode_) ? Origin::kMemtrace : Origin::kOther;
      snapshot_.Insert(e.address, region);
      return;
    }
    case RecordKind::kMapsSnapshotEnd:
      if (e.param == snapshot_sequence_) AdoptSnapshot(e);
      return;
    case RecordKind::kThreadStack: {
      // glibc reuses the stacks of finished threads: a stack already in place is not a new mapping.
      uint64_t first = 0;
      const Region* known = regions_.Find(e.address, &first);
      if (known && known->origin == Origin::kThreadStack && first == e.address &&
          known->end == e.address + e.size) {
        return;
      }
      Region guard;
      guard.end = e.address;
      guard.origin = Origin::kThreadStack;
      if (e.old_size) Birth(e.address - e.old_size, guard, e);
      Region stack;
      stack.end = e.address + e.size;
      stack.prot = PROT_READ | PROT_WRITE;
      stack.origin = Origin::kThreadStack;
      return Birth(e.address, stack, e);
    }
    case RecordKind::kArenaHeap: {
      // Several threads can share an arena: a heap already known only changes its read-write part.
      uint64_t first = 0;
      const Region* known = regions_.Find(e.address, &first);
      if (known && known->origin == Origin::kAllocator && first == e.address &&
          known->end == e.address + e.old_size) {
        return;
      }
      Region reserved;
      reserved.end = e.address + kArenaHeapBytes;
      reserved.origin = Origin::kAllocator;
      Birth(e.address, reserved, e);
      Region writable;
      writable.end = e.address + e.old_size;
      writable.prot = PROT_READ | PROT_WRITE;
      writable.origin = Origin::kAllocator;
      return Birth(e.address, writable, e, MapChange::Type::kResize);
    }
    case RecordKind::kPosixSpawn:
    case RecordKind::kPosixSpawnp:
      if (e.size) {
        changes_.push_back({MapChange::Type::kTransient, e.timestamp, 0, PageUp(e.size), e.prot,
                            Origin::kThreadStack, e.kind, e.tid, 0, "[posix_spawn child stack]"});
      }
      return;
    case RecordKind::kOwnMapping: {
      Region own;
      own.end = e.address + PageUp(e.size);
      own.prot = PROT_READ | PROT_WRITE;
      own.origin = Origin::kMemtrace;
      if (e.param) {
        own_.Insert(e.address, own);
        InsertRegion(e.address, own);
      } else {
        own_.Remove(e.address, own.end);
        RemoveRange(e.address, own.end);
      }
      return;
    }
    default:
      if (!format::IsMeta(e.kind)) ApplyCall(e);
  }
}

void MapsTimeline::Verify() {
  verification_ = {};
  verification_.done = true;
  auto built = ProtectionCoverage(regions_, own_);
  auto kernel = ProtectionCoverage(snapshot_, own_);
  // Ranges present on one side only, or with another protection: a merge walk over both lists.
  RegionMap rebuilt_map, kernel_map;
  for (const auto& [begin, region] : built) rebuilt_map.Insert(begin, region);
  for (const auto& [begin, region] : kernel) kernel_map.Insert(begin, region);
  for (const auto& [begin, region] : kernel) {
    uint64_t first = 0;
    const Region* match = rebuilt_map.Find(begin, &first);
    if (!match || first != begin || match->end != region.end || match->prot != region.prot) {
      verification_.differences.push_back({begin, region.end, region.prot, true, region.path});
    }
  }
  for (const auto& [begin, region] : built) {
    uint64_t first = 0;
    const Region* match = kernel_map.Find(begin, &first);
    if (!match || first != begin || match->end != region.end || match->prot != region.prot) {
      verification_.differences.push_back({begin, region.end, region.prot, false, ""});
    }
  }
}

void MapsTimeline::AdoptSnapshot(const format::Event& end) {
  auto reason = static_cast<format::SnapshotReason>(end.prot);
  if (reason == format::SnapshotReason::kExit) Verify();
  RegionMap adopted;
  for (const auto& [begin, taken] : snapshot_.regions()) {
    Region region = taken;
    uint64_t first = 0;
    const Region* known = regions_.Find(begin, &first);
    if (known && region.origin != Origin::kMemtrace) {
      // Keep what the trace says about who made it; the snapshot knows the names.
      region.origin = known->origin == Origin::kOther ? Classify(begin, region) : known->origin;
      region.birth_ns = known->birth_ns;
      region.cause = known->cause;
      region.tid = known->tid;
      region.stack_id = known->stack_id;
      region.id = known->id;
    } else if (region.origin != Origin::kMemtrace) {
      region.origin = Classify(begin, region);
      region.birth_ns = end.timestamp;
      region.id = ++last_region_id_;
      if (snapshots_adopted_ > 0) {
        changes_.push_back({MapChange::Type::kDiscovered, end.timestamp, begin, region.end, region.prot,
                            region.origin, RecordKind::kMapsSnapshotEnd, end.tid, 0, region.path, region.id,
                            reason});
      }
    }
    if (region.path == "[heap]" && snapshots_adopted_ == 0) heap_start_ = begin;
    adopted.Insert(begin, region);
    if (region.origin == Origin::kMemtrace) continue;
    // The kernel merges neighbouring VMAs that the trace knows as separate mappings (two mmapped
    // chunks side by side): each known mapping keeps its identity from where it starts in the entry.
    const auto& known_regions = regions_.regions();
    for (auto it = known_regions.upper_bound(begin); it != known_regions.end() && it->first < taken.end;
         ++it) {
      const Region& inner = it->second;
      if (inner.origin == Origin::kMemtrace) continue;
      Region piece = taken;
      if (!piece.path.empty() && piece.path[0] != '[') piece.offset += it->first - begin;
      piece.origin = inner.origin == Origin::kOther ? Classify(it->first, piece) : inner.origin;
      piece.birth_ns = inner.birth_ns;
      piece.cause = inner.cause;
      piece.tid = inner.tid;
      piece.stack_id = inner.stack_id;
      piece.id = inner.id;
      adopted.Insert(it->first, piece);
    }
  }
  // The anonymous region just after a library's last file mapping is its .bss.
  std::pair<uint64_t, Region>* previous = nullptr;
  std::vector<std::pair<uint64_t, Region>> ordered(adopted.regions().begin(), adopted.regions().end());
  for (auto& entry : ordered) {
    if (previous && entry.second.origin == Origin::kOther && entry.second.path.empty() &&
        previous->second.origin == Origin::kLoader && previous->second.end == entry.first) {
      entry.second.origin = Origin::kLoader;
      adopted.Insert(entry.first, entry.second);
    }
    previous = &entry;
  }
  // Other threads' calls recorded while the snapshot was being read may or may not be in it: where
  // they changed the map, the trace's account stands.
  KeepTouchedRanges(adopted);
  if (snapshots_adopted_ > 0) {
    for (const auto& [begin, region] : regions_.regions()) {
      if (!snapshot_.Find(begin, nullptr) && region.origin != Origin::kMemtrace &&
          !Touched(begin, region.end)) {
        changes_.push_back({MapChange::Type::kVanished, end.timestamp, begin, region.end, region.prot,
                            region.origin, RecordKind::kMapsSnapshotEnd, end.tid, 0, region.path, 0, reason});
      }
    }
  }
  // memtrace's anonymous memory stays marked even where the kernel merged it into a neighbour.
  for (const auto& [begin, region] : own_.regions()) adopted.Insert(begin, region);
  regions_ = adopted;
  ++snapshots_adopted_;
  snapshot_.Clear();
  snapshot_open_ = false;
  touched_.clear();
}

}  // namespace memtrace::analyzer

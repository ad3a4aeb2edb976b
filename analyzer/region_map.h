// A set of non-overlapping address ranges with attributes, as the kernel keeps a process's mappings:
// inserting over existing ranges replaces them (MAP_FIXED), removing or re-protecting part of a range
// splits it.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "format/record_kind.h"

namespace memtrace::analyzer {

// Who made a mapping.
enum class Origin : uint8_t {
  kProgram,      // the program's own mmap/mremap
  kAllocator,    // malloc: mmapped chunks, thread-arena heaps
  kHeap,         // the brk heap ([heap])
  kThreadStack,  // a thread's stack and guard page
  kMainStack,    // [stack]
  kLoader,       // executable and libraries (file mappings seen at start or at dlopen)
  kMemtrace,     // memtrace's own memory (trace file, stack table, unwinder cache)
  kKernel,       // [vdso], [vvar], [vsyscall]
  kOther,        // seen only in a /proc/self/maps snapshot: made inside libc or by raw syscalls
};

const char* OriginName(Origin origin);

struct Region {
  uint64_t end = 0;
  uint64_t prot = 0;  // PROT_* bits
  bool shared = false;
  uint64_t offset = 0;  // file offset of the region's start
  std::string path;     // file, or [heap]/[stack]/... ; empty for anonymous memory
  Origin origin = Origin::kOther;
  uint64_t birth_ns = 0;  // when it appeared (trace time)
  format::RecordKind cause = format::RecordKind::kMmap;
  uint32_t tid = 0;
  uint32_t stack_id = 0;
  // Which birth the range comes from (MapChange::region_id): kept when the range is split, re-protected
  // or named by a snapshot, so a mapping can be followed from its birth until its last byte goes.
  uint64_t id = 0;
};

// "rw-p": protection and sharing as /proc/PID/maps writes them.
std::string ModeString(uint64_t prot, bool shared);
// The region's file or pseudo-path, or for anonymous memory a bracketed name saying who made it.
std::string RegionLabel(const Region& region);

class RegionMap {
 public:
  using Map = std::map<uint64_t, Region>;  // keyed by start

  // Replaces whatever overlaps [begin, region.end) with `region`.
  void Insert(uint64_t begin, const Region& region);
  // Removes [begin, end), splitting partly covered regions.
  void Remove(uint64_t begin, uint64_t end);
  // Changes the protection of [begin, end) (splitting at its edges).
  void Protect(uint64_t begin, uint64_t end, uint64_t prot);
  // The region containing address, or null.
  const Region* Find(uint64_t address, uint64_t* begin) const;

  const Map& regions() const { return regions_; }
  void Clear() {
    regions_.clear();
    bytes_ = {};
  }
  // Bytes held by the regions of one origin, and by all: kept up to date by every change.
  uint64_t BytesOf(Origin origin) const { return bytes_[static_cast<size_t>(origin)]; }
  uint64_t TotalBytes() const;

  // Adjacent regions the kernel would show as one VMA (same protection, sharing and backing, file
  // offsets continuing) merged, in address order: the form /proc/self/maps uses, except that memtrace's
  // own memory is never merged with the program's.
  std::vector<std::pair<uint64_t, Region>> Coalesced() const;

 private:
  void SplitAt(uint64_t address);
  Map regions_;
  std::array<uint64_t, static_cast<size_t>(Origin::kOther) + 1> bytes_{};
};

}  // namespace memtrace::analyzer

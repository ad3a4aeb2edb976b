#include "analyzer/region_map.h"

#include <fmt/core.h>
#include <sys/mman.h>

namespace memtrace::analyzer {

std::string ModeString(uint64_t prot, bool shared) {
  return fmt::format("{}{}{}{}", prot & PROT_READ ? 'r' : '-', prot & PROT_WRITE ? 'w' : '-',
                     prot & PROT_EXEC ? 'x' : '-', shared ? 's' : 'p');
}

std::string RegionLabel(const Region& region) {
  if (!region.path.empty()) return region.path;
  if (region.origin == Origin::kAllocator) return "[anon: malloc]";
  if (region.origin == Origin::kThreadStack)
    return region.prot ? "[anon: thread stack]" : "[anon: stack guard]";
  if (region.origin == Origin::kProgram) return "[anon: program mmap]";
  return "[anon]";
}

const char* OriginName(Origin origin) {
  switch (origin) {
    case Origin::kProgram: return "program";
    case Origin::kAllocator: return "allocator";
    case Origin::kHeap: return "heap";
    case Origin::kThreadStack: return "thread stack";
    case Origin::kMainStack: return "main stack";
    case Origin::kLoader: return "loader";
    case Origin::kMemtrace: return "memtrace";
    case Origin::kKernel: return "kernel";
    case Origin::kOther: return "other";
  }
  return "other";
}

void RegionMap::SplitAt(uint64_t address) {
  auto it = regions_.upper_bound(address);
  if (it == regions_.begin()) return;
  --it;
  if (it->first >= address || it->second.end <= address) return;
  Region upper = it->second;
  if (!upper.path.empty() && upper.path[0] != '[') upper.offset += address - it->first;
  it->second.end = address;
  regions_.emplace(address, upper);
}

void RegionMap::Remove(uint64_t begin, uint64_t end) {
  if (begin >= end) return;
  SplitAt(begin);
  SplitAt(end);
  auto first = regions_.lower_bound(begin), last = regions_.lower_bound(end);
  for (auto it = first; it != last; ++it)
    bytes_[static_cast<size_t>(it->second.origin)] -= it->second.end - it->first;
  regions_.erase(first, last);
}

void RegionMap::Insert(uint64_t begin, const Region& region) {
  Remove(begin, region.end);
  if (begin >= region.end) return;
  regions_[begin] = region;
  bytes_[static_cast<size_t>(region.origin)] += region.end - begin;
}

uint64_t RegionMap::TotalBytes() const {
  uint64_t total = 0;
  for (uint64_t bytes : bytes_) total += bytes;
  return total;
}

void RegionMap::Protect(uint64_t begin, uint64_t end, uint64_t prot) {
  SplitAt(begin);
  SplitAt(end);
  for (auto it = regions_.lower_bound(begin); it != regions_.end() && it->first < end; ++it)
    it->second.prot = prot;
}

const Region* RegionMap::Find(uint64_t address, uint64_t* begin) const {
  auto it = regions_.upper_bound(address);
  if (it == regions_.begin()) return nullptr;
  --it;
  if (address >= it->second.end) return nullptr;
  if (begin) *begin = it->first;
  return &it->second;
}

std::vector<std::pair<uint64_t, Region>> RegionMap::Coalesced() const {
  std::vector<std::pair<uint64_t, Region>> out;
  for (const auto& [begin, region] : regions_) {
    if (!out.empty()) {
      auto& [last_begin, last] = out.back();
      bool anonymous = last.path.empty() && region.path.empty();
      bool same_file = !last.path.empty() && last.path == region.path && last.path[0] != '[' &&
                       last.offset + (last.end - last_begin) == region.offset;
      // memtrace's own memory stays apart, so that hiding it never hides or adds a program's bytes.
      bool same_owner = (last.origin == Origin::kMemtrace) == (region.origin == Origin::kMemtrace);
      if (last.end == begin && last.prot == region.prot && last.shared == region.shared && same_owner &&
          (anonymous || same_file)) {
        last.end = region.end;
        continue;
      }
    }
    out.emplace_back(begin, region);
  }
  return out;
}

}  // namespace memtrace::analyzer

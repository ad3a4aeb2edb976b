// The address predictor of the split form (chunk_split.h): what splitting and joining both know after
// each record of a chunk, so that a block's address can be stored as a short code. Internal to
// chunk_split.cc; its codes are part of the packed format, so a change here must keep them.
//
// Both directions update it from each record as decoded, nothing else, so they stay in step. One per
// thread, reset for each chunk: chunks decode on their own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "format/linear_probing.h"
#include "format/record.h"

namespace memtrace::format::split_internal {

inline constexpr size_t kFreedPerClass = 16;

// Blocks handed out in this chunk and not yet given back: address -> (serial, size class). Open
// addressing with linear probing and backward-shift deletion; entries carry the table's generation, so a
// new chunk empties it by bumping the generation instead of clearing it. The table starts small and
// doubles at 1/3 full, so a typical chunk's few thousand blocks stay in the cache (a fixed 2 MB table
// missed it on most lookups); how many blocks are predicted does not depend on its size (Full).
class LiveTable {
 public:
  struct Slot {
    uint64_t address;
    uint64_t serial;
    uint64_t size_class;
    uint64_t generation;  // slots of another generation than the table's are empty
  };
  LiveTable() : slots_(size_t{1} << kFirstBits), shift_(64 - kFirstBits) {}
  void Reset() {
    ++generation_;
    size_ = 0;
  }
  // Room for one more. Part of the format: a chunk's blocks past kMaxLive live ones are not predicted,
  // alike in both directions (chunks of up to 64 MiB could hold more).
  bool Full() const { return size_ >= kMaxLive; }
  const Slot* Find(uint64_t address) const {
    const Slot& slot = slots_[IndexOf(address)];
    return slot.generation == generation_ ? &slot : nullptr;
  }
  void Put(uint64_t address, uint64_t serial, uint64_t size_class) {
    if ((size_ + 1) * 3 > slots_.size()) Grow();
    Slot& slot = slots_[IndexOf(address)];
    size_ += slot.generation != generation_;
    slot = Slot{address, serial, size_class, generation_};
  }
  void Erase(const Slot* found) {
    const size_t mask = slots_.size() - 1;
    size_t hole = static_cast<size_t>(found - slots_.data());
    for (size_t i = (hole + 1) & mask;; i = (i + 1) & mask) {
      Slot& slot = slots_[i];
      if (slot.generation != generation_) break;
      if (StaysInPlace(hole, i, Home(slot.address))) continue;
      slots_[hole] = slot;
      hole = i;
    }
    slots_[hole].generation = generation_ - 1;
    --size_;
  }

 private:
  static constexpr size_t kMaxLive = size_t{1} << 15;
  static constexpr unsigned kFirstBits = 12;
  size_t Home(uint64_t address) const {
    return static_cast<size_t>((address * 0x9e3779b97f4a7c15ull) >> shift_);
  }
  // The slot holding `address`, or the empty one where it goes.
  size_t IndexOf(uint64_t address) const {
    const size_t mask = slots_.size() - 1;
    size_t i = Home(address);
    while (slots_[i].generation == generation_ && slots_[i].address != address) i = (i + 1) & mask;
    return i;
  }
  void Grow() {
    std::vector<Slot> old(slots_.size() * 2, Slot{});  // generation 0: every slot empty
    old.swap(slots_);
    --shift_;
    for (const Slot& slot : old) {
      if (slot.generation == generation_) slots_[IndexOf(slot.address)] = slot;
    }
  }
  std::vector<Slot> slots_;
  unsigned shift_;
  uint64_t generation_ = 1;
  size_t size_ = 0;
};

// What both directions know after each record, updated from the decoded record alone so that the
// splitter and the joiner stay in step. Per chunk: chunks decode on their own.
class Predictor {
 public:
  Predictor() { Reset(); }
  void Reset() {
    serial_ = 0;
    by_serial_.clear();
    live_.Reset();
    for (Freed& f : small_) f.count = 0;
    large_.clear();
  }

  // Code for a block given back: its age in blocks handed out since (>= 1), or 0 if not known.
  uint64_t GivenBackCode(uint64_t address) const {
    const LiveTable::Slot* slot = live_.Find(address);
    return slot ? serial_ - slot->serial : 0;
  }
  bool GivenBackAddress(uint64_t code, uint64_t* address) const {
    if (code == 0 || code > serial_) return false;
    *address = by_serial_[serial_ - code];
    return true;
  }
  // Code for a block handed out: 1 = the previous address field, 2 + i = the i-th most recently freed
  // block of its class, 0 = not predicted.
  uint64_t HandedOutCode(uint64_t address, uint64_t last, uint64_t size_class) const {
    if (address == last) return 1;
    const Freed* f = FreedOf(size_class);
    if (!f) return 0;
    for (uint32_t i = 0; i < f->count; ++i) {
      if (f->At(f->count - 1 - i) == address) return 2 + i;
    }
    return 0;
  }
  bool HandedOutAddress(uint64_t code, uint64_t last, uint64_t size_class, uint64_t* address) const {
    if (code == 1) {
      *address = last;
      return true;
    }
    const Freed* f = FreedOf(size_class);
    if (code < 2 || !f || code - 2 >= f->count) return false;
    *address = f->At(static_cast<uint32_t>(f->count - 1 - (code - 2)));
    return true;
  }

  void After(const Record& r) {
    switch (ShapeOf(r.kind)) {
      case Shape::kAlloc:
      case Shape::kArrayAlloc:
      case Shape::kAlignedAlloc: HandOut(r.address, ExpectedChunkSize(r)); break;
      case Shape::kRealloc:
      case Shape::kArrayRealloc:
        if (r.address != r.old_address) GiveBack(r.old_address, 0);
        HandOut(r.address, ExpectedChunkSize(r));
        break;
      case Shape::kRelease: GiveBack(r.address, (r.flags & kFlagChunkRead) ? r.chunk_size : 0); break;
      default: break;
    }
  }

  // After() for a plain allocation (size_class: its ExpectedChunkSize) or release (size_class: its stored
  // chunk size, 0 if none), from the fields alone.
  void HandOut(uint64_t address, uint64_t size_class) {
    if (address == 0) return;
    Freed& f = FreedFor(size_class);
    for (uint32_t i = f.count; i-- > 0;) {
      if (f.At(i) == address) {
        for (uint32_t k = i; k + 1 < f.count; ++k) f.At(k) = f.At(k + 1);
        --f.count;
        break;
      }
    }
    if (live_.Full() && !live_.Find(address)) return;
    live_.Put(address, serial_, size_class);
    by_serial_.push_back(address);
    ++serial_;
  }
  void GiveBack(uint64_t address, uint64_t size_class) {
    if (address == 0) return;
    if (const LiveTable::Slot* slot = live_.Find(address)) {
      size_class = slot->size_class;
      live_.Erase(slot);
    }
    if (size_class == 0) return;
    Freed& f = FreedFor(size_class);
    if (f.count == kFreedPerClass) {
      f.first = (f.first + 1) % kFreedPerClass;
      --f.count;
    }
    f.At(f.count++) = address;
  }

 private:
  // The last blocks of one size class given back, oldest first: the k-th (0 = the oldest) is at
  // blocks[(first + k) % kFreedPerClass], so dropping the oldest moves nothing.
  struct Freed {
    uint32_t first = 0;
    uint32_t count = 0;
    uint64_t blocks[kFreedPerClass];
    uint64_t& At(uint32_t k) { return blocks[(first + k) % kFreedPerClass]; }
    uint64_t At(uint32_t k) const { return blocks[(first + k) % kFreedPerClass]; }
  };
  static constexpr size_t kSmallClasses = 512;  // classes up to 8 KiB in 16-byte steps: an array

  const Freed* FreedOf(uint64_t size_class) const {
    if (size_class / 16 < kSmallClasses) return &small_[size_class / 16];
    auto it = large_.find(size_class);
    return it == large_.end() ? nullptr : &it->second;
  }
  Freed& FreedFor(uint64_t size_class) {
    return size_class / 16 < kSmallClasses ? small_[size_class / 16] : large_[size_class];
  }

  uint64_t serial_ = 0;
  std::vector<uint64_t> by_serial_;
  LiveTable live_;
  Freed small_[kSmallClasses];
  std::unordered_map<uint64_t, Freed> large_;
};

}  // namespace memtrace::format::split_internal

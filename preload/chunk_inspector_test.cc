// ArenaHeapChanged reports a thread-arena heap the first time a thread sees it and again only when its
// read-write size changed, however the thread's blocks alternate between heaps.
#include "preload/chunk_inspector.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

namespace memtrace::preload {
namespace {

// Two fake heaps: 64 MiB-aligned, each starting with glibc's heap_info.
class FakeHeaps {
 public:
  FakeHeaps() {
    reservation_ = mmap(nullptr, kReserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    uint64_t first = (reinterpret_cast<uint64_t>(reservation_) + kHeap - 1) & ~(kHeap - 1);
    for (int i = 0; i < 2; ++i) {
      base_[i] = first + uint64_t(i) * kHeap;
      mprotect(reinterpret_cast<void*>(base_[i]), 4096, PROT_READ | PROT_WRITE);
      info(i).writable_size = 132 * 1024;
    }
  }
  ~FakeHeaps() { munmap(reservation_, kReserved); }
  ArenaHeapInfo& info(int i) { return *reinterpret_cast<ArenaHeapInfo*>(base_[i]); }
  uint64_t block(int i, uint64_t offset) const { return base_[i] + 0x1000 + offset; }
  uint64_t base(int i) const { return base_[i]; }

 private:
  static constexpr uint64_t kHeap = format::kArenaHeapBytes;
  static constexpr uint64_t kReserved = 3 * kHeap;
  void* reservation_;
  uint64_t base_[2];
};

bool Changed(ThreadState& thread, uint64_t address, uint64_t* base) {
  format::Record record;
  record.flags = format::kFlagNonMainArena;
  record.address = address;
  const ArenaHeapInfo* info;
  return ArenaHeapChanged(record, thread, base, &info);
}

TEST(ArenaHeaps, EachHeapReportedOnceAndAgainWhenItsWritableSizeChanges) {
  FakeHeaps heaps;
  ThreadState thread;
  uint64_t base = 0;
  // A thread whose tcache hands it blocks from another thread's heap alternates between heaps.
  EXPECT_TRUE(Changed(thread, heaps.block(0, 0), &base));
  EXPECT_EQ(base, heaps.base(0));
  EXPECT_TRUE(Changed(thread, heaps.block(1, 0), &base));
  EXPECT_EQ(base, heaps.base(1));
  for (uint64_t i = 0; i < 100; ++i) {
    ASSERT_FALSE(Changed(thread, heaps.block(static_cast<int>(i % 2), i * 32), &base)) << i;
    ASSERT_TRUE(ArenaHeapUnchanged(heaps.block(static_cast<int>(i % 2), i * 32), thread)) << i;
  }
  heaps.info(1).writable_size += 64 * 1024;  // heap 1 grew
  EXPECT_FALSE(ArenaHeapUnchanged(heaps.block(1, 64), thread));
  EXPECT_TRUE(Changed(thread, heaps.block(1, 64), &base));
  EXPECT_FALSE(Changed(thread, heaps.block(0, 64), &base));
  EXPECT_FALSE(Changed(thread, heaps.block(1, 96), &base));
  // Another thread has reported nothing yet.
  ThreadState other;
  EXPECT_TRUE(Changed(other, heaps.block(0, 0), &base));
  // Main-arena blocks are never an arena heap's.
  format::Record main_arena;
  main_arena.address = heaps.block(0, 0);
  const ArenaHeapInfo* info;
  EXPECT_FALSE(ArenaHeapChanged(main_arena, thread, &base, &info));
}

}  // namespace
}  // namespace memtrace::preload

// Checked reads: unmapped and PROT_NONE memory refused without a crash, the validated range grown
// only along the running stack, and a page that was readable once but is unmapped since refused.
#include "preload/checked_read.h"

#include <gtest/gtest.h>
#include <sys/mman.h>

namespace memtrace::preload {
namespace {

TEST(CheckedRead, RefusesUnmappedAndProtNoneMemory) {
  long size = 4096;
  auto* page =
      static_cast<uint64_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  ASSERT_NE(page, MAP_FAILED);
  page[3] = 0x1234;
  uint64_t value = 0;
  EXPECT_TRUE(ReadWord(reinterpret_cast<uint64_t>(page + 3), &value));
  EXPECT_EQ(value, 0x1234u);
  munmap(page, size);
  // Read once, then unmapped: not remembered, since it is not on this thread's stack.
  EXPECT_FALSE(ReadWord(reinterpret_cast<uint64_t>(page + 3), &value));
  EXPECT_FALSE(ReadWord(8, &value));  // the null page
  void* guard = mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(guard, MAP_FAILED);
  EXPECT_FALSE(ReadWord(reinterpret_cast<uint64_t>(guard), &value));  // mapped but not readable
  munmap(guard, size);
  EXPECT_FALSE(PageReadable(reinterpret_cast<uint64_t>(guard)));
}

[[gnu::noinline]] uint64_t ReadCallerSlot(const volatile uint64_t* slot) {
  uint64_t value = 0;
  EXPECT_TRUE(ReadWord(reinterpret_cast<uint64_t>(slot), &value));
  return value;
}

TEST(CheckedRead, RemembersTheStackAboveTheStackPointer) {
  volatile uint64_t local = 0xfeedface;  // in this frame: above the callee's stack pointer
  validated_range = {0, 0};
  EXPECT_EQ(ReadCallerSlot(&local), 0xfeedfaceu);
  ValidatedRange range = validated_range;
  EXPECT_LE(range.low, reinterpret_cast<uint64_t>(&local));
  EXPECT_GE(range.high, reinterpret_cast<uint64_t>(&local) + 8);
  EXPECT_EQ(ReadCallerSlot(&local), 0xfeedfaceu);  // now from the range, no system call
  EXPECT_EQ(validated_range.low, range.low);
  EXPECT_EQ(validated_range.high, range.high);
}

}  // namespace
}  // namespace memtrace::preload

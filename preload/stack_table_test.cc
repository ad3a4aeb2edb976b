#include "preload/stack_table.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

namespace memtrace::preload {
namespace {

TEST(StackTable, TheSameStackGetsTheSameIdAndIsWrittenOnce) {
  ASSERT_TRUE(ResetStackTable());
  const uint64_t a[] = {0x401000, 0x402000, 0x403000};
  const uint64_t b[] = {0x401000, 0x402000, 0x403004};
  StackLookup first = LookUpStack(a, 3);
  StackLookup again = LookUpStack(a, 3);
  StackLookup other = LookUpStack(b, 3);
  EXPECT_TRUE(first.is_new);
  EXPECT_FALSE(again.is_new);
  EXPECT_EQ(first.id, again.id);
  EXPECT_TRUE(other.is_new);
  EXPECT_NE(other.id, first.id);
  EXPECT_FALSE(LookUpStack(a, 2).id == first.id);  // a prefix is another stack
}

TEST(StackTable, StacksPastTheTablesCapacityStillGetIdsAndAreWritten) {
  ASSERT_TRUE(ResetStackTable());
  constexpr uint32_t kStacks = (1u << 20) + (1u << 17);  // more than the table's 2^20 slots
  std::set<uint32_t> ids;
  uint32_t written = 0;
  for (uint32_t i = 0; i < kStacks; ++i) {
    const uint64_t frames[] = {0x400000 + i * 16ull, 0x500000};
    StackLookup lookup = LookUpStack(frames, 2);
    ASSERT_NE(lookup.id, 0u) << i;
    written += lookup.is_new;
    ids.insert(lookup.id);
  }
  EXPECT_EQ(written, kStacks);  // each distinct stack's frames reach the trace
  EXPECT_EQ(ids.size(), kStacks);
  // A stack that did get a slot is still found.
  const uint64_t early[] = {0x400000, 0x500000};
  EXPECT_FALSE(LookUpStack(early, 2).is_new);
}

}  // namespace
}  // namespace memtrace::preload

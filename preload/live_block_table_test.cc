#include "preload/live_block_table.h"

#include <gtest/gtest.h>

#include <map>
#include <random>

namespace memtrace::preload {
namespace {

const AddressState* Lookup(AddressTable& table, uint64_t address) {
  AddressState& slot = table.Find(address);
  return slot.address ? &slot : nullptr;
}

TEST(LiveBlockTable, GrowingKeepsEveryAddress) {
  AddressTable table;
  table.first_slots = 2;
  for (uint64_t i = 1; i <= 10000; ++i) {
    AddressState* slot = table.Slot(i * 16);
    ASSERT_NE(slot, nullptr);
    slot->address = i * 16;
    slot->size = i;
  }
  EXPECT_EQ(table.used, 10000u);
  EXPECT_LE(table.used * 4, (table.mask + 1) * 3);
  for (uint64_t i = 1; i <= 10000; ++i) ASSERT_EQ(table.Find(i * 16).size, i);
}

TEST(LiveBlockTable, ErasingKeepsEveryOtherAddressFindable) {
  AddressTable table;
  table.first_slots = 64;  // small: long probe runs that wrap around the end
  std::map<uint64_t, uint64_t> model;
  std::mt19937_64 rng(1);
  for (int step = 0; step < 20000; ++step) {
    const uint64_t address = (1 + rng() % 300) * 16;
    if (rng() % 2) {
      AddressState* slot = table.Slot(address);
      ASSERT_NE(slot, nullptr);
      slot->address = address;
      slot->size = static_cast<uint64_t>(step);
      model[address] = static_cast<uint64_t>(step);
    } else if (model.erase(address)) {
      table.Erase(table.Find(address));
    }
    ASSERT_EQ(table.used, model.size());
  }
  for (uint64_t a = 16; a <= 300 * 16; a += 16) {
    const AddressState* state = Lookup(table, a);
    ASSERT_EQ(state != nullptr, model.count(a) == 1) << a;
    if (state) {
      EXPECT_EQ(state->size, model[a]);
    }
  }
}

}  // namespace
}  // namespace memtrace::preload

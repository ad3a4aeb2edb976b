// The lock-free PC -> rule cache: hits, misses across epochs, and the XOR check under concurrent
// writers hammering the same slots (a torn slot must read as a miss, never as another key's rule).
#include "preload/frame_rule_cache.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "preload/cfi_rule.h"

namespace memtrace::preload {
namespace {

uint64_t RuleFor(uint64_t key) {
  FrameRule rule{FrameKind::kCfaRsp, -1, static_cast<int8_t>(key % 7), static_cast<int32_t>(key * 8)};
  return PackRule(rule);
}

TEST(FrameRuleCache, HitsAfterStoreAndMissesInAnotherEpoch) {
  ResetRuleCache();
  uint64_t key = RuleCacheKey(0x401234, 3);
  EXPECT_EQ(LookUpRule(key), 0u);
  StoreRule(key, RuleFor(key));
  EXPECT_EQ(LookUpRule(key), RuleFor(key));
  EXPECT_EQ(LookUpRule(RuleCacheKey(0x401234, 4)), 0u);  // the same PC after a dlopen/dlclose
  EXPECT_EQ(LookUpRule(RuleCacheKey(0x401235, 3)), 0u);
  ASSERT_NE(RuleTable(), nullptr);
  EXPECT_EQ(ProbeRule(RuleTable(), key), RuleFor(key));
}

TEST(FrameRuleCache, ConcurrentWritersNeverYieldAnotherKeysRule) {
  ResetRuleCache();
  // Keys that share slots: kRuleCacheSlots * 4 distinct keys over kRuleCacheSlots slots.
  std::vector<uint64_t> keys;
  for (uint64_t i = 0; i < kRuleCacheSlots * 4; ++i) keys.push_back(RuleCacheKey(0x400000 + i * 16, 1));
  std::atomic<uint64_t> wrong{0}, hits{0};
  std::atomic<int> writers_left{2};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      uint64_t state = 0x9e3779b97f4a7c15ull * (t + 1);
      auto next_key = [&] {
        state ^= state << 13, state ^= state >> 7, state ^= state << 17;
        return keys[state % keys.size()];
      };
      if (t % 2) {
        for (int i = 0; i < 400000; ++i) {
          uint64_t key = next_key();
          StoreRule(key, RuleFor(key));
        }
        writers_left.fetch_sub(1);
        return;
      }
      // Readers run at least as long as the writers (on a loaded machine the writers may start late, or
      // run while the readers are descheduled), then look up 10,000 keys in the cache the writers filled.
      int after_writers = 0;
      for (int i = 0; i < 400000 || after_writers < 10000; ++i) {
        if (writers_left.load() == 0) ++after_writers;
        uint64_t key = next_key();
        if (uint64_t rule = LookUpRule(key)) {
          hits.fetch_add(1, std::memory_order_relaxed);
          if (rule != RuleFor(key)) wrong.fetch_add(1, std::memory_order_relaxed);
        }
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(wrong.load(), 0u);
  EXPECT_GT(hits.load(), 0u);  // the readers did see entries
}

}  // namespace
}  // namespace memtrace::preload

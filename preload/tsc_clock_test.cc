#include "preload/tsc_clock.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

namespace memtrace::preload {

namespace {

class TscClockTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { InitializeClock(); }
};

// Every stamp lies between clock_gettime readings taken just before and after it, while the window
// grows from nothing to its maximum (the first 300 ms of a process).
void ExpectBracketedByClockGettime(std::chrono::milliseconds how_long) {
  uint64_t worst_early = 0, worst_late = 0;
  uint64_t end = ClockGettimeNanoseconds() + static_cast<uint64_t>(how_long.count()) * 1'000'000;
  for (uint64_t before = 0; before < end;) {
    before = ClockGettimeNanoseconds();
    uint64_t stamp = NowNanoseconds();
    uint64_t after = ClockGettimeNanoseconds();
    if (stamp < before) worst_early = std::max(worst_early, before - stamp);
    if (stamp > after) worst_late = std::max(worst_late, stamp - after);
  }
  // The mapping follows the kernel clock by nudging its rate, so it may run a few microseconds off it
  // (more in the first milliseconds, while the rate is measured over a short span, and on a loaded
  // machine); what must hold exactly, the order between threads, is tested below.
  EXPECT_LT(worst_early, 10'000u);
  EXPECT_LT(worst_late, 10'000u);
}

TEST_F(TscClockTest, AgreesWithClockGettime) {
  ExpectBracketedByClockGettime(std::chrono::milliseconds(300));
}

TEST_F(TscClockTest, AgreesWithClockGettimeInEveryThread) {
  std::vector<std::thread> threads;
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([] { ExpectBracketedByClockGettime(std::chrono::milliseconds(100)); });
  for (auto& t : threads) t.join();
}

TEST_F(TscClockTest, NeverGoesBackMoreThanAnAnchorsJitter) {
  uint64_t last = NowNanoseconds(), worst = 0;
  for (int i = 0; i < 5'000'000; ++i) {
    uint64_t now = NowNanoseconds();
    if (now < last) worst = std::max(worst, last - now);
    last = now;
  }
  EXPECT_LT(worst, 1000u);
}

// Until a second thread exists stamps have a coarser resolution, but never repeat: the exit-time scan
// tells a block's release from its reuse by their stamps.
TEST_F(TscClockTest, SingleThreadStampsNeverRepeat) {
  ASSERT_FALSE(internal::stamps_ordered.load());
  uint64_t last = NowNanoseconds(), coarse = 0;
  for (int i = 0; i < 1'000'000; ++i) {
    uint64_t now = NowNanoseconds();
    ASSERT_GT(now, last);
    coarse += now % internal::kSingleThreadQuantum == 0;
    last = now;
  }
  EXPECT_GT(coarse, 0);  // calls ~10 ns apart: a new quantum starts every ~100 calls
}

// Until a second thread exists stamps are read without waiting for earlier loads; switching to ordered
// reads keeps the clock continuous.
TEST_F(TscClockTest, OrderingStampsKeepsTheClockContinuous) {
  uint64_t before = NowNanoseconds();
  OrderStampsAcrossThreads();
  EXPECT_TRUE(internal::stamps_ordered.load());
  uint64_t after = NowNanoseconds();
  EXPECT_GE(after + 1000, before);
  EXPECT_LT(after - before, 10'000'000u);
}

// The property the trace's cross-thread order rests on: a stamp taken after seeing another thread's
// store is not earlier than the stamp that thread took before the store (a block released in one
// thread and reused by another).
TEST_F(TscClockTest, StampAfterSeeingAStoreIsNotBeforeTheStoresStamp) {
  OrderStampsAcrossThreads();  // as the pthread_create hook does before a second thread exists
  constexpr int kHandoffs = 200'000;
  std::vector<uint64_t> released(kHandoffs), reused(kHandoffs);
  std::atomic<int> published{-1};
  std::thread consumer([&] {
    for (int i = 0; i < kHandoffs; ++i) {
      while (published.load(std::memory_order_acquire) < i) {
      }
      reused[i] = NowNanoseconds();
    }
  });
  for (int i = 0; i < kHandoffs; ++i) {
    released[i] = NowNanoseconds();
    published.store(i, std::memory_order_release);
  }
  consumer.join();
  int inverted = 0;
  for (int i = 0; i < kHandoffs; ++i) inverted += reused[i] < released[i];
  EXPECT_EQ(inverted, 0);
}

}  // namespace
}  // namespace memtrace::preload

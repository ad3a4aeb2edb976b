#include "preload/merged_replay.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <vector>

#include "preload/safe_memory.h"
#include "tests/support/record_chunk.h"

namespace memtrace::preload {
namespace {

using format::RecordKind;
using test_support::RecordChunk;

struct Call {
  uint64_t timestamp;
  uint32_t tid;
  uint64_t sequence;  // its place in its thread's stream
  bool releases;
  uint64_t address, size;
};

// What the merge must give: every thread's calls in time order (releases first at equal stamps, one
// thread's calls in their order), the last call of each address deciding.
std::map<uint64_t, uint64_t> Model(std::vector<Call> calls) {
  std::sort(calls.begin(), calls.end(), [](const Call& a, const Call& b) {
    if (a.timestamp != b.timestamp) return a.timestamp < b.timestamp;
    if (a.tid == b.tid) return a.sequence < b.sequence;
    return a.releases && !b.releases;
  });
  std::map<uint64_t, uint64_t> live;
  for (const Call& c : calls) {
    if (c.releases) {
      live.erase(c.address);
    } else {
      live[c.address] = c.size;
    }
  }
  return live;
}

struct Replayed {
  std::map<uint64_t, uint64_t> live;
  int arena_heaps = 0;
  std::vector<const format::ChunkHeader*> done;
};

std::vector<const format::ChunkHeader*>* done_chunks;
void NoteDone(const format::ChunkHeader* chunk) { done_chunks->push_back(chunk); }

Replayed Replay(std::vector<RecordChunk>& chunks, std::mt19937_64& rng) {
  std::vector<ChunkRef> refs;
  for (size_t i = 0; i < chunks.size(); ++i) refs.push_back({chunks[i].header()->tid, i, chunks[i].header()});
  std::shuffle(refs.begin(), refs.end(), rng);  // any order in, sorted by the replay
  Replayed out;
  AddressTable large;
  DenseLiveSet live(&large);
  done_chunks = &out.done;
  EXPECT_TRUE(ReplayMerged(refs.data(), refs.size(), &live, NoteDone));
  live.ForEachLive([&](uint64_t address, uint64_t size) { out.live[address] = size; });
  out.arena_heaps = large.arena_heap_count;
  live.Clear();
  UnmapScratch(large.slots, large.slots ? large.bytes() : 0);
  return out;
}

// Threads whose chunks overlap in time, cross-thread frees, addresses reused, equal stamps in different
// threads, sizes of 64 KiB and more, blocks from a thread arena: the merge applies the calls as the
// model orders them, whatever order the chunks are listed in.
TEST(MergedReplay, AppliesEveryThreadsCallsInTimeOrder) {
  std::mt19937_64 rng(2);
  std::vector<RecordChunk> chunks;
  std::vector<Call> calls;
  for (uint32_t tid = 1; tid <= 6; ++tid) {
    uint64_t stamp = 1000, sequence = 0;
    for (int c = 0; c < 4; ++c) {
      chunks.emplace_back(stamp, tid);
      for (int i = 0; i < 400; ++i) {
        stamp += rng() % 4;  // 0: the same stamp as the call before
        const uint64_t address = (1 + rng() % 1500) * 16 + (rng() % 40 == 0 ? 8 : 0);
        const bool releases = rng() % 2;
        const uint64_t size = rng() % 5 ? rng() % 200 : rng() % 100000;
        const uint8_t flags = rng() % 100 == 0 ? format::kFlagNonMainArena : 0;
        chunks.back().Add(releases ? RecordKind::kFree : RecordKind::kMalloc, stamp, address, size, flags);
        calls.push_back({stamp, tid, sequence++, releases, address, size});
      }
    }
  }
  const std::map<uint64_t, uint64_t> expected = Model(calls);
  ASSERT_GT(expected.size(), 300u);
  for (int order = 0; order < 5; ++order) {
    Replayed replayed = Replay(chunks, rng);
    EXPECT_EQ(replayed.live, expected) << order;
    EXPECT_GT(replayed.arena_heaps, 0);
    EXPECT_EQ(replayed.done.size(), chunks.size());  // each chunk handed back once, when applied
  }
}

// A block released by one thread and reused by another at the same stamp is live (the release's stamp
// is taken before the call, the reuse's after), in whichever chunk order.
TEST(MergedReplay, AReleaseGoesFirstAtEqualStamps) {
  std::mt19937_64 rng(5);
  std::vector<RecordChunk> chunks;
  chunks.emplace_back(100, 7);
  chunks.emplace_back(100, 8);
  chunks[0].Add(RecordKind::kMalloc, 150, 0x5000, 32);
  chunks[1].Add(RecordKind::kMalloc, 200, 0x5000, 48);
  chunks[0].Add(RecordKind::kFree, 200, 0x5000);
  for (int order = 0; order < 4; ++order) {
    const Replayed replayed = Replay(chunks, rng);
    EXPECT_EQ(replayed.live, (std::map<uint64_t, uint64_t>{{0x5000, 48}}));
  }
}

// One thread's calls apply in their stream's order even where a stamp goes back (a chunk's first stamp
// is its first call's, which the writer does not move up to the previous chunk's last).
TEST(MergedReplay, OneThreadsCallsKeepTheirOrder) {
  std::mt19937_64 rng(9);
  std::vector<RecordChunk> chunks;
  chunks.emplace_back(100, 3);
  chunks.emplace_back(90, 3);
  chunks[0].Add(RecordKind::kMalloc, 120, 0x7000, 10);
  chunks[1].Add(RecordKind::kFree, 95, 0x7000);
  chunks[1].Add(RecordKind::kMalloc, 96, 0x8000, 20);
  const Replayed replayed = Replay(chunks, rng);
  EXPECT_EQ(replayed.live, (std::map<uint64_t, uint64_t>{{0x8000, 20}}));
}

TEST(MergedReplay, NoChunksNothingLive) {
  AddressTable large;
  DenseLiveSet live(&large);
  EXPECT_TRUE(ReplayMerged(nullptr, 0, &live));
  int blocks = 0;
  live.ForEachLive([&](uint64_t, uint64_t) { ++blocks; });
  EXPECT_EQ(blocks, 0);
}

}  // namespace
}  // namespace memtrace::preload

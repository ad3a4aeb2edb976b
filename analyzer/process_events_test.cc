#include "analyzer/process_events.h"

#include <gtest/gtest.h>

#include <cstring>
#include <utility>

namespace memtrace::analyzer {
namespace {

using format::Event;

Event Make(RecordKind kind, uint64_t timestamp, uint32_t tid) {
  Event e;
  e.kind = kind;
  e.timestamp = timestamp;
  e.tid = tid;
  return e;
}

Event Malloc(uint64_t timestamp, uint32_t tid) {
  Event e = Make(RecordKind::kMalloc, timestamp, tid);
  e.size = 10;
  e.address = 0x1000 + timestamp;
  return e;
}

TEST(ProcessEventsTest, AVforkChildsCallsAreItsOwnUntilItsParentResumes) {
  ProcessEvents events;
  events.Apply(Malloc(1, 100));  // the parent
  Event start = Make(RecordKind::kVforkChild, 2, 200);
  start.param = 200;
  start.count = 100;
  events.Apply(start);
  events.Apply(Malloc(3, 200));
  events.Apply(Malloc(4, 101));  // another thread of the parent, while the child runs
  events.Apply(Make(RecordKind::kFree, 5, 200));
  static const char kPath[] = "/bin/true";
  Event resumed = Make(RecordKind::kVfork, 6, 100);
  resumed.param = 200;
  resumed.old_size = static_cast<uint64_t>(format::EndReason::kExec);
  resumed.bytes = reinterpret_cast<const uint8_t*>(kPath);
  resumed.byte_count = static_cast<uint32_t>(std::strlen(kPath));
  events.Apply(resumed);
  // A child that only _exits makes no call and writes nothing: it is known from its parent's record.
  Event quiet = Make(RecordKind::kVfork, 9, 100);
  quiet.param = 201;
  quiet.old_size = static_cast<uint64_t>(format::EndReason::kUnderscoreExit);
  quiet.size = 3;
  events.Apply(quiet);
  events.Apply(Malloc(8, 200));  // a later thread that reuses the number is not the child

  ASSERT_EQ(events.vfork_children().size(), 2u);
  const VforkChild& child = events.vfork_children()[0];
  EXPECT_EQ(child.pid, 200u);
  EXPECT_EQ(child.parent_tid, 100u);
  EXPECT_EQ(child.calls, 2u);
  EXPECT_TRUE(child.ended);
  EXPECT_EQ(child.end, format::EndReason::kExec);
  EXPECT_EQ(child.exec_path, "/bin/true");
  EXPECT_EQ(child.start_ns, 2u);
  EXPECT_EQ(child.end_ns, 6u);
  const VforkChild& other = events.vfork_children()[1];
  EXPECT_EQ((std::pair{other.pid, other.calls}), (std::pair{201u, uint64_t{0}}));
  EXPECT_EQ((std::pair{other.end, other.status}),
            (std::pair{format::EndReason::kUnderscoreExit, int64_t{3}}));
  EXPECT_EQ(events.vforks(), 2u);
  EXPECT_EQ(events.Describe(), "vfork 2: children made 2 calls in this memory, 1 exec'd, 1 exited");
}

TEST(ProcessEventsTest, SpawnsAndFailures) {
  ProcessEvents events;
  Event failed = Make(RecordKind::kVfork, 1, 100);
  failed.param = -1;
  failed.count = 11;
  events.Apply(failed);
  Event spawn = Make(RecordKind::kPosixSpawnp, 2, 100);
  spawn.param = 2;  // ENOENT
  spawn.size = 36864;
  events.Apply(spawn);
  events.Apply(Make(RecordKind::kFork, 3, 100));
  EXPECT_EQ(events.failed_vforks(), 1u);
  ASSERT_EQ(events.spawns().size(), 1u);
  EXPECT_EQ(events.spawns()[0].stack_length, 36864u);
  EXPECT_EQ(events.Describe(), "fork 1, vfork 0 (1 failed), posix_spawn 1 (1 failed)");
  EXPECT_TRUE(ProcessEvents().empty());
}

}  // namespace
}  // namespace memtrace::analyzer

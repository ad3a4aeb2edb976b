#include "analyzer/process_events.h"

#include <gtest/gtest.h>

#include <cstring>

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
  Event end = Make(RecordKind::kVforkChildEnd, 6, 200);
  end.param = static_cast<int64_t>(format::EndReason::kExec);
  end.bytes = reinterpret_cast<const uint8_t*>(kPath);
  end.byte_count = static_cast<uint32_t>(std::strlen(kPath));
  events.Apply(end);
  Event resumed = Make(RecordKind::kVfork, 7, 100);
  resumed.param = 200;
  events.Apply(resumed);
  events.Apply(Malloc(8, 200));  // a later thread that reuses the number is not the child

  ASSERT_EQ(events.vfork_children().size(), 1u);
  const VforkChild& child = events.vfork_children()[0];
  EXPECT_EQ(child.pid, 200u);
  EXPECT_EQ(child.parent_tid, 100u);
  EXPECT_EQ(child.calls, 2u);
  EXPECT_TRUE(child.ended);
  EXPECT_EQ(child.end, format::EndReason::kExec);
  EXPECT_EQ(child.exec_path, "/bin/true");
  EXPECT_EQ(child.end_ns, 6u);
  EXPECT_EQ(events.vforks(), 1u);
  EXPECT_EQ(events.Describe(), "vfork 1: children made 2 calls in this memory, 1 exec'd, 0 exited");
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

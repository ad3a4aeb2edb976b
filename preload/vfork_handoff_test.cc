#include "preload/vfork_handoff.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

namespace memtrace::preload {
namespace {

// Globals, as the preload's are TLS: a vfork child writes them in its parent's memory.
ThreadState state;
VforkHandoff handoff;
format::ChunkHeader parent_chunk;
format::ChunkHeader child_chunk;

ThreadState ParentState() {
  ThreadState parent;
  parent.tid = static_cast<uint32_t>(gettid());
  parent.generation = 3;
  parent.chunk = &parent_chunk;
  parent.dropped = 2;
  parent.unwound = true;
  parent.deltas.last_timestamp = 1234;
  return parent;
}

TEST(VforkHandoffTest, ChildWritesItsOwnStateAndTheParentGetsItsBack) {
  state = ParentState();
  handoff = VforkHandoff{};
  ASSERT_TRUE(PrepareVfork(state, handoff, state.tid));
  EXPECT_EQ(state.depth, 1u);  // a signal handler now passes through
  pid_t pid = vfork();
  if (pid == 0) {
    EnterVforkChild(state, handoff, static_cast<uint32_t>(getpid()));
    // What the writer would do on the child's first record.
    state.chunk = &child_chunk;
    state.deltas.last_timestamp = 99;
    state.dropped += 1;
    NoteVforkChildEnd(handoff, format::EndReason::kUnderscoreExit, 9, "/not/run");
    _exit(state.depth == 0 && state.vfork_parent == handoff.caller_tid ? 0 : 1);
  }
  ASSERT_GT(pid, 0);
  EXPECT_TRUE(handoff.child_entered);  // written by the child, in our memory
  EXPECT_EQ(state.tid, static_cast<uint32_t>(pid));
  EXPECT_EQ(state.generation, 3u);
  ThreadState child = ResumeVforkParent(state, handoff);
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(child.chunk, &child_chunk);
  EXPECT_EQ(child.tid, static_cast<uint32_t>(pid));
  EXPECT_EQ(state.chunk, &parent_chunk);
  EXPECT_EQ(state.tid, static_cast<uint32_t>(gettid()));
  EXPECT_EQ(state.depth, 0u);
  EXPECT_EQ(state.vfork_parent, 0u);
  EXPECT_EQ(state.deltas.last_timestamp, 1234u);
  EXPECT_EQ(state.dropped, 3u);  // the parent's 2 and the child's unflushed 1
  EXPECT_FALSE(handoff.pending);
  // How the child left, as it noted in our memory.
  EXPECT_EQ(handoff.end_reason, static_cast<uint8_t>(format::EndReason::kUnderscoreExit));
  EXPECT_EQ(handoff.end_status, 9);
  EXPECT_STREQ(handoff.exec_path, "/not/run");
}

TEST(VforkHandoffTest, AChildThatNeverRanLeavesTheParentAsItWas) {
  state = ParentState();
  handoff = VforkHandoff{};
  ASSERT_TRUE(PrepareVfork(state, handoff, state.tid));
  ThreadState child = ResumeVforkParent(state, handoff);  // vfork failed: no child
  EXPECT_EQ(child.chunk, nullptr);
  EXPECT_EQ(state.depth, 0u);
  EXPECT_EQ(state.chunk, &parent_chunk);
  EXPECT_EQ(state.dropped, 2u);
}

TEST(VforkHandoffTest, ALongExecPathIsCutToFit) {
  handoff = VforkHandoff{};
  std::string path(1000, 'p');
  NoteVforkChildEnd(handoff, format::EndReason::kExec, 0, path.c_str());
  EXPECT_EQ(std::string(handoff.exec_path), path.substr(0, sizeof handoff.exec_path - 1));
  NoteVforkChildEnd(handoff, format::EndReason::kExec, 0, nullptr);  // fexecve
  EXPECT_STREQ(handoff.exec_path, "");
}

TEST(VforkHandoffTest, NotHandedOffInsideAHookOrAVforkChild) {
  state = ParentState();
  handoff = VforkHandoff{};
  state.depth = 1;
  EXPECT_FALSE(PrepareVfork(state, handoff, state.tid));
  state.depth = 0;
  state.vfork_parent = 7;
  EXPECT_FALSE(PrepareVfork(state, handoff, state.tid));
  // Nothing pending: neither side touches the state.
  EnterVforkChild(state, handoff, 4242);
  EXPECT_EQ(state.chunk, &parent_chunk);
  ThreadState child = ResumeVforkParent(state, handoff);
  EXPECT_EQ(child.chunk, nullptr);
  EXPECT_EQ(state.vfork_parent, 7u);
}

}  // namespace
}  // namespace memtrace::preload

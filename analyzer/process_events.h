// The processes a trace's process made and the vfork children that ran in its memory: fork, vfork,
// posix_spawn/posix_spawnp, and what each vfork child did before it exec'd or exited.
//
// A vfork child's calls are in the parent's trace, in a chunk whose tid is the child's pid, after its
// kVforkChild record and before the parent's kVfork (written when it resumes, with how the child
// left). They change the heap and the mappings like the parent's own calls (the memory is the
// parent's): every other consumer applies them as it applies any thread's. This one says whose they
// were. A child that made no call has no kVforkChild: it appears at its parent's kVfork.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/event_facts.h"
#include "analyzer/json_writer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct VforkChild {
  uint32_t pid = 0;
  uint32_t parent_tid = 0;  // the thread that called vfork
  uint64_t start_ns = 0;    // trace time (absolute) of its first call (0: it made none)
  uint64_t end_ns = 0;      // of the parent's resumption; 0 while unknown
  uint64_t calls = 0;       // allocator and mapping calls it made in the parent's memory
  bool ended = false;       // it said how it left (exec, _exit or exit)
  format::EndReason end = format::EndReason::kExec;
  int64_t status = 0;     // _exit/exit status
  std::string exec_path;  // what it exec'd (empty for fexecve)
};

struct Spawn {
  RecordKind kind = RecordKind::kPosixSpawn;  // or kPosixSpawnp
  uint64_t timestamp = 0;
  uint32_t tid = 0;
  std::string path;
  int64_t result = 0;         // 0, or the errno value posix_spawn returned
  uint32_t pid = 0;           // the child's, when result is 0
  uint64_t stack_length = 0;  // glibc's transient child stack (mapped and unmapped inside the call)
  uint64_t stack_prot = 0;
};

class ProcessEvents : public EventConsumer {
 public:
  void Apply(const Event& e) override;

  // True for the records this consumer describes (not calls; reports list them among the calls).
  static bool IsProcessEvent(RecordKind kind);

  uint64_t forks() const { return forks_; }
  uint64_t vforks() const { return vforks_; }  // vfork calls that returned in the parent
  uint64_t failed_vforks() const { return failed_vforks_; }
  const std::vector<VforkChild>& vfork_children() const { return children_; }
  const std::vector<Spawn>& spawns() const { return spawns_; }
  // Calls attributed to vfork children (the rest of the trace's calls are the process's own).
  uint64_t vfork_child_calls() const;
  bool empty() const {
    return !forks_ && !vforks_ && !failed_vforks_ && children_.empty() && spawns_.empty();
  }

  // One line for people ("fork 1, vfork 2 (...), posix_spawn 1 (...)"), and the "processes" object.
  std::string Describe() const;
  void WriteJson(JsonWriter& json, uint64_t start_ns) const;

 private:
  uint64_t forks_ = 0;
  uint64_t vforks_ = 0;
  uint64_t failed_vforks_ = 0;
  std::vector<VforkChild> children_;
  absl::flat_hash_map<uint32_t, size_t> running_;  // pid -> index in children_, until it resumes its parent
  std::vector<Spawn> spawns_;
};

}  // namespace memtrace::analyzer

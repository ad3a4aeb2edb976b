#include "analyzer/process_events.h"

#include <fmt/core.h>

namespace memtrace::analyzer {

namespace {

std::string Bytes(const Event& e) {
  return std::string(reinterpret_cast<const char*>(e.bytes), e.byte_count);
}

const char* EndName(format::EndReason reason) {
  switch (reason) {
    case format::EndReason::kExec: return "exec";
    case format::EndReason::kUnderscoreExit: return "_exit";
    case format::EndReason::kExit: return "exit";
    case format::EndReason::kSignal: return "signal";
  }
  return "unknown";
}

}  // namespace

bool ProcessEvents::IsProcessEvent(RecordKind kind) {
  switch (kind) {
    case RecordKind::kFork:
    case RecordKind::kVfork:
    case RecordKind::kVforkChild:
    case RecordKind::kPosixSpawn:
    case RecordKind::kPosixSpawnp: return true;
    default: return false;
  }
}

void ProcessEvents::Apply(const Event& e) {
  switch (e.kind) {
    case RecordKind::kFork: ++forks_; return;
    case RecordKind::kVforkChild: {
      VforkChild child;
      child.pid = static_cast<uint32_t>(e.param);
      child.parent_tid = static_cast<uint32_t>(e.count);
      child.start_ns = e.timestamp;
      running_[child.pid] = children_.size();
      children_.push_back(child);
      return;
    }
    case RecordKind::kVfork:
      if (e.param < 0) {
        ++failed_vforks_;
        return;
      }
      ++vforks_;
      {
        auto pid = static_cast<uint32_t>(e.param);
        auto it = running_.find(pid);
        if (it == running_.end()) {  // it made no call
          it = running_.emplace(pid, children_.size()).first;
          children_.push_back({});
          children_.back().pid = pid;
          children_.back().parent_tid = e.tid;
        }
        VforkChild& child = children_[it->second];
        child.end_ns = e.timestamp;
        child.ended = e.old_size != 0;
        if (child.ended) child.end = static_cast<format::EndReason>(e.old_size);
        child.status = static_cast<int32_t>(e.size);
        child.exec_path = Bytes(e);
        running_.erase(it);
      }
      return;
    case RecordKind::kPosixSpawn:
    case RecordKind::kPosixSpawnp: {
      Spawn spawn;
      spawn.kind = e.kind;
      spawn.timestamp = e.timestamp;
      spawn.tid = e.tid;
      spawn.path = Bytes(e);
      spawn.result = e.param;
      spawn.pid = static_cast<uint32_t>(e.count);
      spawn.stack_length = e.size;
      spawn.stack_prot = e.prot;
      spawns_.push_back(spawn);
      return;
    }
    default: break;
  }
  if (!IsCall(e) || e.kind == RecordKind::kReallocRelease || running_.empty()) return;
  if (auto it = running_.find(e.tid); it != running_.end()) ++children_[it->second].calls;
}

uint64_t ProcessEvents::vfork_child_calls() const {
  uint64_t total = 0;
  for (const VforkChild& child : children_) total += child.calls;
  return total;
}

std::string ProcessEvents::Describe() const {
  std::string text;
  auto add = [&](const std::string& part) { text += (text.empty() ? "" : ", ") + part; };
  if (forks_) add(fmt::format("fork {}", forks_));
  if (vforks_ || failed_vforks_ || !children_.empty()) {
    std::string detail = fmt::format("vfork {}", vforks_);
    if (failed_vforks_) detail += fmt::format(" ({} failed)", failed_vforks_);
    if (!children_.empty()) {
      uint64_t execs = 0, exits = 0;
      for (const VforkChild& child : children_) {
        execs += child.ended && child.end == format::EndReason::kExec;
        exits += child.ended && child.end != format::EndReason::kExec;
      }
      detail += fmt::format(": children made {} calls in this memory, {} exec'd, {} exited",
                            vfork_child_calls(), execs, exits);
    }
    add(detail);
  }
  if (!spawns_.empty()) {
    uint64_t failed = 0;
    for (const Spawn& spawn : spawns_) failed += spawn.result != 0;
    add(fmt::format("posix_spawn {}{}", spawns_.size(), failed ? fmt::format(" ({} failed)", failed) : ""));
  }
  return text;
}

void ProcessEvents::WriteJson(JsonWriter& json, uint64_t start_ns) const {
  auto since = [&](uint64_t t) { return t > start_ns ? t - start_ns : 0; };
  json.BeginObject("processes")
      .Field("forks", forks_)
      .Field("vforks", vforks_)
      .Field("failed_vforks", failed_vforks_)
      .Field("vfork_child_calls", vfork_child_calls());
  json.BeginArray("vfork_children");
  for (const VforkChild& child : children_) {
    json.BeginObject()
        .Field("pid", child.pid)
        .Field("parent_tid", child.parent_tid)
        .Field("start_ns", since(child.start_ns))
        .Field("end_ns", since(child.end_ns))
        .Field("calls", child.calls)
        .Field("end", child.ended ? EndName(child.end) : "unknown")
        .Field("status", child.status)
        .Field("exec", child.exec_path)
        .EndObject();
  }
  json.EndArray();
  json.BeginArray("spawns");
  for (const Spawn& spawn : spawns_) {
    json.BeginObject()
        .Field("call", format::NameOf(spawn.kind))
        .Field("time_ns", since(spawn.timestamp))
        .Field("tid", spawn.tid)
        .Field("path", spawn.path)
        .Field("result", spawn.result)
        .Field("pid", spawn.pid)
        .Field("stack_length", spawn.stack_length)
        .Field("stack_prot", spawn.stack_prot)
        .EndObject();
  }
  json.EndArray().EndObject();
}

}  // namespace memtrace::analyzer

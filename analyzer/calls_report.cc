#include "analyzer/calls_report.h"

#include <fmt/core.h>
#include <sys/mman.h>

#include "analyzer/event_facts.h"
#include "analyzer/process_events.h"
#include "analyzer/text_format.h"

namespace memtrace::analyzer {

namespace {

std::string ProtText(uint64_t prot) {
  if (prot == PROT_NONE) return "---";
  return fmt::format("{}{}{}", prot & PROT_READ ? 'r' : '-', prot & PROT_WRITE ? 'w' : '-',
                     prot & PROT_EXEC ? 'x' : '-');
}

std::string MapFlagsText(uint64_t flags) {
  std::string text = (flags & MAP_SHARED) ? "SHARED" : "PRIVATE";
  if (flags & MAP_ANONYMOUS) text += "|ANON";
  if (flags & MAP_FIXED) text += "|FIXED";
  if (flags & MAP_NORESERVE) text += "|NORESERVE";
  if (flags & MAP_STACK) text += "|STACK";
  if (flags & MAP_POPULATE) text += "|POPULATE";
  return text;
}

std::string BytesText(const Event& e) {
  return std::string(reinterpret_cast<const char*>(e.bytes), e.byte_count);
}

// fork, vfork and posix_spawn, and a vfork child's start and end (ProcessEvents::IsProcessEvent).
std::string ProcessEventText(const Event& e) {
  switch (e.kind) {
    case RecordKind::kFork: return fmt::format("fork() = {}", e.param);
    case RecordKind::kVfork: {
      if (e.param < 0) return fmt::format("vfork() = -1 (errno {})", e.count);
      std::string text = fmt::format("vfork() = {}; the parent resumes: the child ", e.param);
      switch (static_cast<format::EndReason>(e.old_size)) {
        case format::EndReason::kExec: return text + fmt::format("exec'd \"{}\"", BytesText(e));
        case format::EndReason::kUnderscoreExit:
          return text + fmt::format("called _exit({})", static_cast<int32_t>(e.size));
        case format::EndReason::kExit:
          return text + fmt::format("called exit({})", static_cast<int32_t>(e.size));
        default: return text + "said nothing (killed?)";
      }
    }
    case RecordKind::kVforkChild:
      return fmt::format("vfork child {} starts in the memory of thread {}", e.param, e.count);
    case RecordKind::kPosixSpawn:
    case RecordKind::kPosixSpawnp: {
      std::string text = fmt::format("{}(\"{}\") = {}", format::NameOf(e.kind), BytesText(e), e.param);
      if (e.param == 0) text += fmt::format(", pid {}", e.count);
      if (e.size) text += fmt::format("; child stack mmap+munmap {} {}", e.size, ProtText(e.prot));
      return text;
    }
    default: return format::NameOf(e.kind);
  }
}

// The call as it was written in the program: "malloc(32768) = 0x55d0c0a2b2a0".
std::string CallText(const Event& e) {
  const char* name = format::NameOf(e.kind);
  switch (format::ShapeOf(e.kind)) {
    case Shape::kAlloc: return fmt::format("{}({}) = {}", name, e.size, Hex(e.address));
    case Shape::kArrayAlloc: return fmt::format("{}({}, {}) = {}", name, e.count, e.size, Hex(e.address));
    case Shape::kAlignedAlloc:
      if (e.kind == RecordKind::kPosixMemalign) {
        return fmt::format("{}(&p, {}, {}) = {}, p = {}", name, e.alignment, e.size, e.result,
                           Hex(e.address));
      }
      return fmt::format("{}({}, {}) = {}", name, e.alignment, e.size, Hex(e.address));
    case Shape::kRealloc:
      return fmt::format("{}({}, {}) = {}", name, Hex(e.old_address), e.size, Hex(e.address));
    case Shape::kArrayRealloc:
      return fmt::format("{}({}, {}, {}) = {}", name, Hex(e.old_address), e.count, e.size, Hex(e.address));
    case Shape::kRelease: return fmt::format("{}({})", name, Hex(e.address));
    case Shape::kMmap:
      return fmt::format("{}({}, {}, {}, {}, {}, {}) = {}", name, Hex(e.old_address), e.size,
                         ProtText(e.prot), MapFlagsText(e.map_flags), e.fd, e.offset, Hex(e.address));
    case Shape::kMunmap: return fmt::format("{}({}, {}) = {}", name, Hex(e.address), e.size, e.result);
    case Shape::kMremap:
      return fmt::format("{}({}, {}, {}, {}) = {}", name, Hex(e.old_address), e.old_size, e.size, e.map_flags,
                         Hex(e.address));
    case Shape::kMprotect:
      return fmt::format("{}({}, {}, {}) = {}", name, Hex(e.address), e.size,
                         e.kind == RecordKind::kMprotect ? ProtText(e.prot) : std::to_string(e.prot),
                         e.result);
    case Shape::kBrk: return fmt::format("{}({}) = {}", name, Hex(e.old_address), e.result);
    case Shape::kSbrk: return fmt::format("{}({}) = {}", name, e.param, Hex(e.address));
    case Shape::kMallopt:
      if (e.kind == RecordKind::kMallocTrim) return fmt::format("{}({}) = {}", name, e.param, e.result);
      return fmt::format("{}({}, {}) = {}", name, e.param, e.value, e.result);
    case Shape::kMeta: return ProcessEventText(e);
  }
  return name;
}

// Whether a call yields a block glibc placed, and where: "heap", "mmap [base +len]", "unknown".
std::string VerdictText(const Event& e) {
  if (!IsAllocation(e)) return (IsRelease(e) && (e.flags & format::kFlagMmapped)) ? "munmap by malloc" : "-";
  Verdict verdict = VerdictOf(e);
  if (verdict != Verdict::kMmapped) {
    return (e.flags & format::kFlagNonMainArena) ? "heap (thread arena)" : VerdictName(verdict);
  }
  return fmt::format("mmap {}+{}", Hex(MappingBase(e)), MappingLength(e));
}

}  // namespace

CallsReport::~CallsReport() {
  if (writer_) writer_->EndArray();
}

void CallsReport::Begin(const TraceInfo& info) {
  start_ = info.header.start_monotonic_ns;
  if (json_) {
    writer_ = std::make_unique<JsonWriter>(out_);
    writer_->BeginArray();
  } else {
    fmt::print(out_, "{:>11} {:>7}  {:<60} {:<28} {}\n", "time (s)", "thread", "call", "verdict", "break");
  }
}

void CallsReport::Apply(const Event& e) {
  // The release half of a moving realloc is shown on the realloc's own line.
  bool process_event = ProcessEvents::IsProcessEvent(e.kind);
  if ((!IsCall(e) && !process_event) || e.kind == RecordKind::kReallocRelease) return;
  if (json_) {
    PrintJson(e);
  } else {
    PrintText(e);
  }
}

void CallsReport::PrintText(const Event& e) {
  std::string brk = (e.flags & format::kFlagBrkMoved)
                        ? fmt::format("{} -> {} ({})", Hex(e.brk_before), Hex(e.brk_after),
                                      HumanDelta(static_cast<int64_t>(e.brk_after - e.brk_before)))
                        : "";
  fmt::print(out_, "{:>11} {:>7}  {:<60} {:<28} {}\n", Seconds(e.timestamp - start_), e.tid, CallText(e),
             VerdictText(e), brk);
}

void CallsReport::PrintJson(const Event& e) {
  JsonWriter& json = *writer_;
  json.BeginObject()
      .Field("time_ns", e.timestamp - start_)
      .Field("tid", e.tid)
      .Field("call", format::NameOf(e.kind))
      .Field("text", CallText(e));
  Shape shape = format::ShapeOf(e.kind);
  if (ProcessEvents::IsProcessEvent(e.kind)) {
    json.Field("process_event", true);
    switch (e.kind) {
      case RecordKind::kFork: json.Field("pid", e.param); break;
      case RecordKind::kVfork: {
        json.Field("result", e.param).Field("pid", e.param > 0 ? e.param : 0);
        if (e.param < 0) json.Field("errno", e.count);
        auto end = static_cast<format::EndReason>(e.old_size);
        json.Field("child_end", end == format::EndReason::kExec             ? "exec"
                                : end == format::EndReason::kUnderscoreExit ? "_exit"
                                : end == format::EndReason::kExit           ? "exit"
                                                                            : "unknown")
            .Field("child_status", static_cast<int32_t>(e.size))
            .Field("child_exec", BytesText(e));
        break;
      }
      case RecordKind::kVforkChild: json.Field("pid", e.param).Field("parent_tid", e.count); break;
      default:  // posix_spawn, posix_spawnp
        json.Field("path", BytesText(e)).Field("result", e.param).Field("pid", e.count);
        if (e.size) {
          // Not "mapping": its address is unknown (it is gone when the call returns).
          json.BeginObject("transient_mapping")
              .Field("length", e.size)
              .Field("prot", e.prot)
              .Field("flags", e.map_flags)
              .EndObject();
        }
        break;
    }
  } else if (format::YieldsBlock(e.kind)) {
    json.Field("size", RequestedBytes(e)).Field("address", e.address);
    if (shape == Shape::kRealloc || shape == Shape::kArrayRealloc) json.Field("old_address", e.old_address);
    if (shape == Shape::kAlignedAlloc) json.Field("alignment", e.alignment);
    json.Field("verdict", IsAllocation(e) ? VerdictName(VerdictOf(e)) : "failed");
    if (e.flags & format::kFlagChunkRead) json.Field("chunk_size", e.chunk_size);
    if (e.flags & format::kFlagNonMainArena) json.Field("thread_arena", true);
    if (VerdictOf(e) == Verdict::kMmapped) {
      json.BeginObject("mapping").Field("base", MappingBase(e)).Field("length", MappingLength(e)).EndObject();
    }
  } else if (shape == Shape::kRelease) {
    json.Field("address", e.address);
    if (e.flags & format::kFlagMmapped) {
      json.BeginObject("mapping").Field("base", MappingBase(e)).Field("length", MappingLength(e)).EndObject();
    }
  } else if (shape == Shape::kMmap || shape == Shape::kMremap) {
    json.Field("length", e.size)
        .Field("address", e.address)
        .Field("prot", e.prot)
        .Field("flags", e.map_flags);
    if (shape == Shape::kMmap) json.Field("fd", e.fd).Field("offset", e.offset);
    if (shape == Shape::kMremap) json.Field("old_address", e.old_address).Field("old_length", e.old_size);
  } else if (shape == Shape::kMunmap || shape == Shape::kMprotect) {
    json.Field("address", e.address).Field("length", e.size).Field("result", e.result);
  } else if (shape == Shape::kBrk) {
    json.Field("requested", e.old_address).Field("result", e.result);
  } else if (shape == Shape::kSbrk) {
    json.Field("increment", e.param).Field("address", e.address);
  } else if (shape == Shape::kMallopt) {
    json.Field("param", e.param).Field("value", e.value).Field("result", e.result);
  }
  if (e.flags & format::kFlagBrkMoved) {
    json.Field("brk_before", e.brk_before)
        .Field("brk_after", e.brk_after)
        .Field("brk_delta", static_cast<int64_t>(e.brk_after - e.brk_before));
  }
  json.EndObject();
}

}  // namespace memtrace::analyzer

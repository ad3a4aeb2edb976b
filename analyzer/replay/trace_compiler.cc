#include "analyzer/replay/trace_compiler.h"

#include <cerrno>
#include <cstring>

#include "analyzer/event_facts.h"

namespace memtrace::replay {

namespace {

constexpr uint64_t kHeaderBytes = 64;
static_assert(sizeof(OpFileHeader) <= kHeaderBytes);

using analyzer::IsAllocation;
using analyzer::IsCall;
using analyzer::IsRelease;
using analyzer::RequestedBytes;
using format::RecordKind;
using format::Shape;

constexpr uint64_t kPageBytes = 4096;
// glibc 2.36 (x86-64) puts the thread cache, one chunk of this size, first in a fresh heap.
constexpr uint64_t kTcacheChunkBytes = 0x290;
constexpr uint64_t kChunkHeaderBytes = 16;
constexpr uint64_t kMaxPrefillBytes = 64u << 20;

// The op that makes the same request of an allocator as the recorded call.
Op RequestOf(const format::Event& e) {
  Op op;
  op.size = RequestedBytes(e);
  switch (e.kind) {
    case RecordKind::kCalloc: op.kind = OpKind::kCalloc; break;
    case RecordKind::kPosixMemalign:
    case RecordKind::kAlignedAlloc:
    case RecordKind::kMemalign:
    case RecordKind::kNewAligned:
    case RecordKind::kNewArrayAligned:
      op.kind = OpKind::kAligned;
      op.alignment = e.alignment;
      break;
    case RecordKind::kValloc:
      op.kind = OpKind::kAligned;
      op.alignment = kPageBytes;
      break;
    case RecordKind::kPvalloc:
      op.kind = OpKind::kAligned;
      op.alignment = kPageBytes;
      op.size = (op.size + kPageBytes - 1) & ~(kPageBytes - 1);
      break;
    default: op.kind = OpKind::kMalloc; break;
  }
  return op;
}

}  // namespace

TraceCompiler::TraceCompiler(std::string path) : path_(std::move(path)) {
  file_ = std::fopen(path_.c_str(), "wb");
  if (!file_) {
    write_failed_ = true;
    return;
  }
  // Room for the header, written last when the counts are known.
  static const uint8_t zeros[kHeaderBytes] = {};
  if (std::fwrite(zeros, 1, sizeof zeros, file_) != sizeof zeros) write_failed_ = true;
}

TraceCompiler::~TraceCompiler() {
  if (file_) std::fclose(file_);
}

void TraceCompiler::Begin(const analyzer::TraceInfo& info) {
  // The recorded main thread (tid == pid) is replayed on the replay's main thread, so it keeps glibc's
  // main arena and the program break.
  ThreadIndex(info.header.pid);
  initial_break_ = info.header.initial_break;
}

// The first block glibc's main heap served: whatever lies between the heap's start (after the thread
// cache) and it was allocated before tracing began.
void TraceCompiler::NotePrefill(const format::Event& e) {
  if (prefill_known_ || !(e.flags & format::kFlagChunkRead)) return;
  if (e.flags & (format::kFlagMmapped | format::kFlagNonMainArena)) return;
  prefill_known_ = true;
  uint64_t heap_start = initial_break_ + kTcacheChunkBytes;
  uint64_t chunk = e.address - kChunkHeaderBytes;
  if (initial_break_ && chunk > heap_start && chunk - heap_start < kMaxPrefillBytes) {
    stats_.prefill_bytes = chunk - heap_start;
  }
}

uint32_t TraceCompiler::ThreadIndex(uint32_t tid) {
  auto [it, inserted] = thread_of_tid_.try_emplace(tid, static_cast<uint32_t>(threads_.size()));
  if (inserted) {
    threads_.emplace_back();
    threads_.back().block.reserve(kBlockBytes);
    // A thread starts where its first call appears; main starts it (the trace does not say which thread
    // created it, and main always exists).
    if (it->second != 0) {
      Op spawn;
      spawn.kind = OpKind::kSpawn;
      spawn.slot = it->second;
      Emit(0, spawn);
    }
  }
  return it->second;
}

uint32_t TraceCompiler::TakeSlot(uint32_t thread) {
  std::vector<uint32_t>& free_slots = threads_[thread].free_slots;
  if (!free_slots.empty()) {
    uint32_t slot = free_slots.back();
    free_slots.pop_back();
    return slot;
  }
  slots_.push_back({0, thread});
  return static_cast<uint32_t>(slots_.size() - 1);
}

void TraceCompiler::Emit(uint32_t thread, Op op) {
  Thread& t = threads_[thread];
  if (t.block.size() + kMaxOpBytes > kBlockBytes) FlushBlock(thread);
  size_t used = t.block.size();
  t.block.resize(used + kMaxOpBytes);
  uint8_t* end = EncodeOp(t.block.data() + used, op);
  t.block.resize(static_cast<size_t>(end - t.block.data()));
  ++t.block_ops;
  ++total_ops_;
}

// Adds the recorded facts the replay compares against, and the wait for another thread if the slot's
// previous op ran there.
void TraceCompiler::EmitOnSlot(uint32_t thread, Op op, const format::Event& e) {
  SlotState& slot = slots_[op.slot];
  if (slot.operations > 0 && slot.last_thread != thread) {
    op.flags |= kOpWaits;
    op.sequence = slot.operations;
    ++stats_.cross_thread_waits;
  }
  ++slot.operations;
  slot.last_thread = thread;
  if (op.kind != OpKind::kFree && (e.flags & format::kFlagChunkRead)) {
    op.flags |= kOpVerdictKnown;
    if (e.flags & format::kFlagMmapped) op.flags |= kOpMmapped;
  }
  if (e.flags & format::kFlagBrkMoved) {
    op.flags |= kOpBrkMoved;
    op.brk_delta = static_cast<int64_t>(e.brk_after - e.brk_before);
  }
  Emit(thread, op);
  ++stats_.operations;
  if (!stats_.first_call_ns) stats_.first_call_ns = e.timestamp;
  stats_.last_call_ns = e.timestamp;
}

void TraceCompiler::Apply(const format::Event& e) {
  if (!IsCall(e)) return;
  uint32_t thread = ThreadIndex(e.tid);
  if (IsRelease(e)) {
    Release(e, thread);
  } else if (format::YieldsBlock(e.kind)) {
    Shape shape = format::ShapeOf(e.kind);
    if (shape == Shape::kRealloc || shape == Shape::kArrayRealloc) {
      Reallocate(e, thread);
    } else if (IsAllocation(e)) {
      Allocate(e, thread);
    } else if (e.flags & format::kFlagBrkMoved) {
      ++stats_.unreplayed_brk_moves;  // a failed allocation
    }
  } else if (e.kind == RecordKind::kMallopt || e.kind == RecordKind::kMallocTrim ||
             e.kind == RecordKind::kBrk || e.kind == RecordKind::kSbrk) {
    ProcessCall(e, thread);
  } else if (e.flags & format::kFlagBrkMoved) {
    ++stats_.unreplayed_brk_moves;  // the program's own mmap/munmap/mremap (not the allocator's)
  }
}

// mallopt and malloc_trim change what glibc does next, so they run at their place in the order. The
// program's brk/sbrk run as sbrk of the break move they made: the absolute break differs from run to
// run (ASLR), the move is what glibc's main heap sees (a foreign sbrk makes its heap non-contiguous).
void TraceCompiler::ProcessCall(const format::Event& e, uint32_t thread) {
  Op op;
  int64_t moved = (e.flags & format::kFlagBrkMoved) ? static_cast<int64_t>(e.brk_after - e.brk_before) : 0;
  switch (e.kind) {
    case RecordKind::kMallopt:
      op.kind = OpKind::kMallopt;
      op.param = e.param;
      op.value = e.value;
      ++stats_.mallopt_calls;
      break;
    case RecordKind::kMallocTrim:
      op.kind = OpKind::kMallocTrim;
      op.param = e.param;
      op.value = e.result;
      ++stats_.malloc_trim_calls;
      break;
    default:
      op.kind = OpKind::kSbrk;
      op.param = moved;
      op.value = e.kind == RecordKind::kBrk ? 1 : 0;
      ++stats_.program_brk_calls;
      break;
  }
  if (e.flags & format::kFlagBrkMoved) {
    op.flags |= kOpBrkMoved;
    op.brk_delta = moved;
  }
  Emit(thread, op);
  ++stats_.operations;
  if (!stats_.first_call_ns) stats_.first_call_ns = e.timestamp;
  stats_.last_call_ns = e.timestamp;
}

void TraceCompiler::Release(const format::Event& e, uint32_t thread) {
  auto it = slot_of_address_.find(e.address);
  if (it == slot_of_address_.end()) {
    ++stats_.unknown_releases;
    if (e.flags & format::kFlagBrkMoved) ++stats_.unreplayed_brk_moves;
    return;
  }
  uint32_t slot = it->second;
  slot_of_address_.erase(it);
  if (e.kind == RecordKind::kReallocRelease) {
    // The realloc's own record follows on this thread: it moves the block, or frees it (size 0).
    threads_[thread].pending_realloc = slot;
    return;
  }
  Op op;
  op.kind = OpKind::kFree;
  op.slot = slot;
  EmitOnSlot(thread, op, e);
  threads_[thread].free_slots.push_back(slot);
}

void TraceCompiler::Allocate(const format::Event& e, uint32_t thread) {
  NotePrefill(e);
  Op op = RequestOf(e);
  op.slot = TakeSlot(thread);
  // An address the trace says is still live (an inconsistent trace): the old slot is simply forgotten.
  slot_of_address_[e.address] = op.slot;
  EmitOnSlot(thread, op, e);
}

void TraceCompiler::Reallocate(const format::Event& e, uint32_t thread) {
  Thread& t = threads_[thread];
  uint32_t released = t.pending_realloc;
  t.pending_realloc = kNoSlot;
  Op op;
  op.kind = OpKind::kRealloc;
  op.size = RequestedBytes(e);
  if (e.address == 0) {
    // realloc(p, 0) freed p (glibc frees and returns NULL, exactly what free does); any other NULL is a
    // failed realloc that left p alone.
    if (released != kNoSlot) {
      op.kind = OpKind::kFree;
      op.slot = released;
      EmitOnSlot(thread, op, e);
      t.free_slots.push_back(released);
    } else if (e.flags & format::kFlagBrkMoved) {
      ++stats_.unreplayed_brk_moves;
    }
    return;
  }
  if (e.old_address == 0) {
    Allocate(e, thread);  // realloc(NULL, n) is malloc(n)
    return;
  }
  if (e.old_address == e.address) {
    auto it = slot_of_address_.find(e.address);
    released = it == slot_of_address_.end() ? kNoSlot : it->second;
  }
  if (released == kNoSlot) {
    // A block allocated before tracing began: the best replay is a malloc.
    ++stats_.approximated_reallocs;
    op.kind = OpKind::kMalloc;
    op.slot = TakeSlot(thread);
  } else {
    op.slot = released;
  }
  slot_of_address_[e.address] = op.slot;
  EmitOnSlot(thread, op, e);
}

void TraceCompiler::FlushBlock(uint32_t thread) {
  Thread& t = threads_[thread];
  if (t.block.empty()) return;
  BlockHeader header{thread, static_cast<uint32_t>(t.block.size()), t.block_ops, 0};
  if (file_ && (std::fwrite(&header, sizeof header, 1, file_) != 1 ||
                std::fwrite(t.block.data(), 1, t.block.size(), file_) != t.block.size())) {
    write_failed_ = true;
  }
  ++blocks_;
  t.block.clear();
  t.block_ops = 0;
}

bool TraceCompiler::Finish(std::string* error) {
  for (uint32_t i = 0; i < threads_.size(); ++i) FlushBlock(i);
  stats_.threads = static_cast<uint32_t>(threads_.size());
  stats_.slots = slots_.size();
  OpFileHeader header{};
  std::memcpy(header.magic, kOpFileMagic, sizeof kOpFileMagic);
  header.version = kOpFileVersion;
  header.threads = stats_.threads;
  header.slots = stats_.slots;
  header.operations = total_ops_;
  header.blocks = blocks_;
  header.header_bytes = kHeaderBytes;
  header.prefill_bytes = stats_.prefill_bytes;
  if (!write_failed_ && (std::fseek(file_, 0, SEEK_SET) != 0 ||
                         std::fwrite(&header, sizeof header, 1, file_) != 1 || std::fflush(file_) != 0)) {
    write_failed_ = true;
  }
  if (write_failed_) {
    *error = "cannot write the replay op stream " + path_ + ": " + std::strerror(errno ? errno : EIO);
    return false;
  }
  return true;
}

}  // namespace memtrace::replay

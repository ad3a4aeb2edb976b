#include "preload/maps_watch.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "preload/proc_maps.h"
#include "preload/process_events.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

namespace internal {
std::atomic<uint64_t> maps_check_due_ns{UINT64_MAX};
}  // namespace internal

namespace {

uint64_t interval_ns = 100'000'000;
std::atomic<uint64_t> last_fingerprint{0};

uint64_t Mix(uint64_t hash, uint64_t value) {
  hash ^= value + 0x9e3779b97f4a7c15ull + (hash << 6) + (hash >> 2);
  return hash;
}

void MixLine(const MapLine& line, void* context) {
  auto& fingerprint = *static_cast<uint64_t*>(context);
  uint32_t prot =
      (line.readable ? PROT_READ : 0) | (line.writable ? PROT_WRITE : 0) | (line.executable ? PROT_EXEC : 0);
  fingerprint = MixFingerprint(fingerprint, line.begin, line.end, line.offset, line.inode, prot, line.path,
                               line.path_length);
}

}  // namespace

void ConfigureMapsWatch() {
  if (const char* value = getenv("MEMTRACE_MAPS_INTERVAL_MS")) {
    char* end = nullptr;
    unsigned long long ms = strtoull(value, &end, 10);
    if (end != value && *end == 0) interval_ns = ms * 1'000'000;
  }
  if (interval_ns)
    internal::maps_check_due_ns.store(NowNanoseconds() + interval_ns, std::memory_order_relaxed);
}

void NoteSnapshotFingerprint(uint64_t fingerprint) {
  last_fingerprint.store(fingerprint, std::memory_order_relaxed);
}

uint64_t MixFingerprint(uint64_t fingerprint, uint64_t begin, uint64_t end, uint64_t offset, uint64_t inode,
                        uint32_t prot, const char* path, uint32_t path_length) {
  // Anonymous memory and [heap], [stack], [vdso]... change with every allocation; the trace file
  // grows by segments.
  if (path_length == 0 || path[0] == '[' || inode == 0 || inode == TraceInode()) return fingerprint;
  fingerprint = Mix(fingerprint, begin);
  fingerprint = Mix(fingerprint, end);
  fingerprint = Mix(fingerprint, offset);
  fingerprint = Mix(fingerprint, inode);
  return Mix(fingerprint, prot);
}

void SnapshotIfFilesChanged(ThreadState& thread, format::SnapshotReason reason) {
  uint64_t fingerprint = 0;
  if (!ForEachMapping(MixLine, &fingerprint)) return;
  if (fingerprint == last_fingerprint.load(std::memory_order_relaxed)) return;
  EmitMapsSnapshot(thread, reason);
}

namespace internal {

void PeriodicMapsCheck(ThreadState& thread, uint64_t due, uint64_t now) {
  // One thread per period: the others see the new due time and go on.
  if (!maps_check_due_ns.compare_exchange_strong(due, now + interval_ns, std::memory_order_relaxed)) return;
  SnapshotIfFilesChanged(thread, format::SnapshotReason::kPeriodic);
}

}  // namespace internal

}  // namespace memtrace::preload

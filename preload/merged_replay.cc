#include "preload/merged_replay.h"

#include <algorithm>
#include <new>

#include "format/record_codec.h"
#include "preload/safe_memory.h"

namespace memtrace::preload {

namespace {

// One thread's chunks, and its next call.
struct Sequence {
  const ChunkRef* next_chunk;
  const ChunkRef* end_chunk;
  const format::ChunkHeader* chunk = nullptr;
  const uint8_t* cursor = nullptr;
  const uint8_t* end = nullptr;
  format::DeltaState deltas{};
  format::BlockCall call{};
};

struct Decoder {
  format::Record scratch;
  uint64_t frames[format::kMaxFrames];
  void (*done)(const format::ChunkHeader*);

  // Moves `s` to its next allocation or release; false when its chunks are exhausted.
  bool Advance(Sequence& s) {
    for (;;) {
      while (s.cursor < s.end) {
        if (format::DecodeBlockCall(&s.cursor, s.end, s.deltas, &s.call, &scratch, frames) !=
            format::DecodeStatus::kOk) {
          s.cursor = s.end;  // a chunk cut short: what decoded counts
          break;
        }
        if (s.call.yields || s.call.releases) return true;
      }
      if (s.chunk && done) done(s.chunk);
      if (s.next_chunk == s.end_chunk) return false;
      s.chunk = (s.next_chunk++)->header;
      s.cursor = reinterpret_cast<const uint8_t*>(s.chunk + 1);
      s.end = s.cursor + __atomic_load_n(&s.chunk->committed_bytes, __ATOMIC_ACQUIRE);
      s.deltas = format::DeltaState{s.chunk->first_timestamp, 0};
    }
  }
};

// Whether a's next call goes before b's.
bool Before(const Sequence& a, const Sequence& b) {
  if (a.call.timestamp != b.call.timestamp) return a.call.timestamp < b.call.timestamp;
  return a.call.releases && !b.call.releases;
}

void SiftDown(Sequence** heap, uint64_t size, uint64_t i) {
  for (;;) {
    uint64_t first = i, left = 2 * i + 1, right = left + 1;
    if (left < size && Before(*heap[left], *heap[first])) first = left;
    if (right < size && Before(*heap[right], *heap[first])) first = right;
    if (first == i) return;
    std::swap(heap[i], heap[first]);
    i = first;
  }
}

}  // namespace

bool ReplayMerged(ChunkRef* chunks, uint64_t count, DenseLiveSet* live,
                  void (*done)(const format::ChunkHeader*)) {
  std::sort(chunks, chunks + count, [](const ChunkRef& a, const ChunkRef& b) {
    return a.tid != b.tid ? a.tid < b.tid : a.index < b.index;
  });
  uint64_t threads = 0;
  for (uint64_t i = 0; i < count; ++i) threads += i == 0 || chunks[i].tid != chunks[i - 1].tid;
  const uint64_t bytes = threads * (sizeof(Sequence) + sizeof(Sequence*));
  auto* sequences = static_cast<Sequence*>(threads ? MapScratch(bytes) : nullptr);
  if (threads && !sequences) return false;
  auto** heap = reinterpret_cast<Sequence**>(sequences + threads);
  Decoder decoder;
  decoder.done = done;
  uint64_t size = 0;
  for (uint64_t i = 0, t = 0; i < count; ++t) {
    uint64_t end = i;
    while (end < count && chunks[end].tid == chunks[i].tid) ++end;
    Sequence* s = new (&sequences[t]) Sequence{&chunks[i], &chunks[end]};
    if (decoder.Advance(*s)) heap[size++] = s;
    i = end;
  }
  for (uint64_t i = size; i-- > 0;) SiftDown(heap, size, i);
  while (size && !live->failed) {
    // The first thread's calls apply without touching the heap while they come before the next
    // thread's (its runs are as long as the threads' calls interleave coarsely).
    Sequence& s = *heap[0];
    const Sequence* next = size < 2 ? nullptr : size < 3 || Before(*heap[1], *heap[2]) ? heap[1] : heap[2];
    bool more;
    do {
      live->Apply(s.call);
      more = decoder.Advance(s);
    } while (more && (!next || !Before(*next, s)));
    if (!more) heap[0] = heap[--size];
    SiftDown(heap, size, 0);
  }
  UnmapScratch(sequences, bytes);
  return !live->failed;
}

}  // namespace memtrace::preload

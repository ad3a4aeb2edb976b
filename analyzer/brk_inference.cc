#include "analyzer/brk_inference.h"

#include <algorithm>
#include <charconv>

namespace memtrace::analyzer {

namespace {

constexpr uint64_t kMinSize = 32;                 // malloc.c MINSIZE on x86-64
constexpr uint64_t kMallocAlignment = 16;         // MALLOC_ALIGNMENT
constexpr uint64_t kHeaderBytes = 16;             // chunk2mem offset (CHUNK_HDR_SZ)
constexpr uint64_t kMaxAlignmentTried = 1 << 20;  // each 16-byte start below the block is tried
constexpr int kMallocTopPadParam = -2;            // M_TOP_PAD
constexpr uint64_t kTcacheChunk = 0x290;          // request2size(sizeof (tcache_perthread_struct)), 64 bins

constexpr uint64_t AlignUp(uint64_t x, uint64_t a) { return (x + a - 1) & ~(a - 1); }
constexpr uint64_t AlignDown(uint64_t x, uint64_t a) { return x & ~(a - 1); }

// sysmalloc's sbrk on a contiguous main heap whose top chunk starts at `top_start` and ends at the
// break `before`: size = ALIGN_UP(nb + top_pad + MINSIZE - old_top_size, pagesize).
uint64_t GrownBreak(uint64_t before, uint64_t top_start, uint64_t nb, uint64_t pad) {
  uint64_t old_top = before - top_start;
  return before + AlignUp(nb + pad + kMinSize - old_top, MallocTuning::kPageSize);
}

// systrim(top_pad) with the top chunk at [top_start, brk): releases whole pages above pad + MINSIZE.
uint64_t TrimmedBreak(uint64_t brk, uint64_t top_start, uint64_t pad) {
  int64_t top_area = static_cast<int64_t>(brk - top_start) - static_cast<int64_t>(kMinSize) - 1;
  if (top_area <= static_cast<int64_t>(pad)) return brk;
  return brk - AlignDown(static_cast<uint64_t>(top_area) - pad, MallocTuning::kPageSize);
}

bool IsRealloc(RecordKind kind) { return kind == RecordKind::kRealloc || kind == RecordKind::kReallocArray; }

BreakInference Uncertain(const char* reason) { return {BreakCertainty::kUncertain, 0, reason}; }

// realloc grew the block in place after sysmalloc grew the top (module comment): the old top started
// at the block's old end, the new chunk ends where the final top starts.
BreakInference InferInPlaceRealloc(const BreakCall& call, uint64_t pad) {
  uint64_t nb = call.chunk_size;
  uint64_t old_size = call.old_chunk_size;
  if (!old_size || !nb) return Uncertain("realloc grew in place; a chunk size is unknown");
  uint64_t chunk = call.address - kHeaderBytes;
  uint64_t old_top_start = chunk + old_size;
  // The facts _int_realloc's path requires: the block ended inside the heap, its top was too small to
  // extend into, and the new chunk was split to exactly the request (the freed remainder is the old
  // size, always >= MINSIZE).
  if (nb != format::RequestToChunkSize(call.requested) || old_top_start + kMinSize > call.before ||
      old_size + (call.before - old_top_start) >= nb + kMinSize) {
    return Uncertain("realloc grew in place, but not along glibc's grow-and-trim path");
  }
  uint64_t grown = GrownBreak(call.before, old_top_start, nb, pad);
  if (grown == call.after) return {};
  uint64_t trimmed = TrimmedBreak(grown, chunk + nb, pad);
  if (trimmed != grown && trimmed == call.after) {
    return {BreakCertainty::kInferred, grown,
            "realloc in place: sysmalloc grew the top, freeing the old size let systrim trim it"};
  }
  return Uncertain("realloc grew in place; glibc's arithmetic does not reproduce the recorded break");
}

// The thread's first call: tcache_init's chunk first, then the request, both from a fresh heap's top.
BreakInference InferFirstCall(const BreakCall& call, uint64_t pad) {
  uint64_t nb = format::RequestToChunkSize(call.requested);
  bool plain = call.kind == RecordKind::kMalloc || call.kind == RecordKind::kCalloc ||
               call.kind == RecordKind::kNew || call.kind == RecordKind::kNewArray ||
               (IsRealloc(call.kind) && !call.old_address);
  if (!plain || call.chunk_size != nb || call.before % MallocTuning::kPageSize) {
    return Uncertain("first call of a thread: tcache_init may have grown the heap before the request did");
  }
  uint64_t tcache_grown = call.before + AlignUp(kTcacheChunk + pad + kMinSize, MallocTuning::kPageSize);
  if (tcache_grown == call.after) return {};
  uint64_t top = tcache_grown - (call.before + kTcacheChunk);
  if (top < nb + kMinSize &&
      tcache_grown + AlignUp(nb + pad + kMinSize - top, MallocTuning::kPageSize) == call.after) {
    return {BreakCertainty::kInferred, tcache_grown,
            "first call of a thread on a fresh heap: tcache_init grew it, then the request grew it again"};
  }
  return Uncertain("first call of a thread: glibc's arithmetic does not reproduce the recorded break");
}

// _mid_memalign's alignment: malloc's own for small ones, at least MINSIZE, a power of two. 0 when the
// call is not modelled.
uint64_t EffectiveAlignment(const BreakCall& call) {
  switch (call.kind) {
    case RecordKind::kValloc: return MallocTuning::kPageSize;
    case RecordKind::kMemalign:
    case RecordKind::kPosixMemalign:
    case RecordKind::kAlignedAlloc: break;
    default: return 0;
  }
  uint64_t a = call.alignment;
  if (a <= kMallocAlignment) return 1;  // served by plain malloc
  if (a < kMinSize) a = kMinSize;
  if (a & (a - 1)) {
    uint64_t p = 2 * kMallocAlignment;
    while (p < a) p <<= 1;
    a = p;
  }
  return a;
}

// _int_memalign: m = _int_malloc(nb + alignment + MINSIZE); the aligned chunk inside m is returned,
// the leader and the tail are freed (the tail joins the top and may be trimmed). m is not recorded, so
// every start that yields the recorded block is tried.
BreakInference InferMemalign(const BreakCall& call, uint64_t alignment, uint64_t pad) {
  if (alignment == 1) return {};  // plain malloc: grows or trims, never both
  if (!call.chunk_size) return Uncertain("aligned allocation; its chunk size is unknown");
  if (alignment > kMaxAlignmentTried) return Uncertain("aligned allocation with a very large alignment");
  uint64_t nb = format::RequestToChunkSize(call.requested);
  uint64_t asked = format::RequestToChunkSize(nb + alignment + kMinSize);
  uint64_t chunk = call.address - kHeaderBytes;
  uint64_t top_start_after = chunk + call.chunk_size;
  bool single = call.after < call.before;  // a trim alone (no growth) explains a downward move
  bool twice = false;
  uint64_t intermediate = 0;
  bool ambiguous = false;
  uint64_t lowest = chunk >= alignment + kMinSize ? chunk - alignment - kMinSize : 0;
  lowest = std::max(lowest, call.heap_floor);
  for (uint64_t m = AlignDown(lowest, kMallocAlignment); m <= chunk; m += kMallocAlignment) {
    uint64_t mem = m + kHeaderBytes;
    uint64_t aligned = m;
    if (mem % alignment) {
      aligned = ((mem + alignment - 1) & ~(alignment - 1)) - kHeaderBytes;
      if (aligned - m < kMinSize) aligned += alignment;
    }
    if (aligned != chunk) continue;
    // sysmalloc ran (the top from m was too small) and m's chunk holds the returned one.
    if (m + kMinSize > call.before || call.before - m >= asked + kMinSize) continue;
    if (top_start_after > m + asked) continue;
    if (call.chunk_size != nb && top_start_after != m + asked) continue;  // tail kept, not split off
    uint64_t grown = GrownBreak(call.before, m, asked, pad);
    if (grown == call.after) {
      single = true;
      continue;
    }
    uint64_t trimmed = TrimmedBreak(grown, top_start_after, pad);
    if (trimmed == grown || trimmed != call.after) continue;
    if (twice && grown != intermediate) ambiguous = true;
    twice = true;
    intermediate = grown;
  }
  if (twice && !single && !ambiguous) {
    return {BreakCertainty::kInferred, intermediate,
            "aligned allocation: sysmalloc grew the top, freeing the unused tail let systrim trim it"};
  }
  if (twice) return Uncertain("aligned allocation: one or two moves fit the record");
  if (single) return {};
  return Uncertain("aligned allocation; glibc's arithmetic does not reproduce the recorded break");
}

}  // namespace

void MallocTuning::ApplyEnvironment(std::string_view entry) {
  // glibc reads these with base 0 (decimal, 0x hex or 0 octal); decimal and hex are followed here,
  // anything else leaves the pad unknown.
  auto number = [&](std::string_view text) {
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
      text.remove_prefix(2);
      base = 16;
    } else if (text.size() > 1 && text[0] == '0') {
      modelled_ = false;
      return;
    }
    uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || error != std::errc() || end != text.data() + text.size()) {
      modelled_ = false;
      return;
    }
    top_pad_ = value;
  };
  constexpr std::string_view kEnvPad = "MALLOC_TOP_PAD_=";
  constexpr std::string_view kTunables = "GLIBC_TUNABLES=";
  if (entry.starts_with(kEnvPad)) {
    number(entry.substr(kEnvPad.size()));
    return;
  }
  if (!entry.starts_with(kTunables)) return;
  // name=value pairs separated by ':'; later ones win, as in glibc's parser.
  std::string_view rest = entry.substr(kTunables.size());
  while (!rest.empty()) {
    size_t colon = rest.find(':');
    std::string_view pair = rest.substr(0, colon);
    rest = colon == std::string_view::npos ? std::string_view() : rest.substr(colon + 1);
    size_t equals = pair.find('=');
    if (equals == std::string_view::npos) continue;
    std::string_view name = pair.substr(0, equals);
    std::string_view value = pair.substr(equals + 1);
    if (name == "glibc.malloc.top_pad") number(value);
    if (name == "glibc.malloc.hugetlb" && value != "0") modelled_ = false;
  }
}

void MallocTuning::Apply(const Event& e) {
  if (e.kind == RecordKind::kEnvironment) {
    ApplyEnvironment(std::string_view(reinterpret_cast<const char*>(e.bytes), e.byte_count));
  } else if (e.kind == RecordKind::kMallopt && e.param == kMallocTopPadParam && e.result == 1) {
    top_pad_ = static_cast<uint64_t>(e.value);  // mallopt stores the int as size_t
  }
}

BreakInference InferBreakMoves(const BreakCall& call, const MallocTuning& tuning) {
  bool malloc_family = format::YieldsBlock(call.kind) || call.kind == RecordKind::kFree ||
                       call.kind == RecordKind::kReallocRelease || call.kind == RecordKind::kMallocTrim;
  if (!malloc_family || call.after == call.before) return {};
  if (call.after_foreign_move && call.after > call.before) {
    return Uncertain(
        "first growth since the program moved the break itself: sysmalloc may add a correcting sbrk");
  }
  if (call.first_call_of_thread && call.after > call.before && call.main_heap_chunk && call.address) {
    if (call.address - kHeaderBytes == call.before + kTcacheChunk) {
      if (!tuning.modelled())
        return Uncertain("malloc tuning not modelled (GLIBC_TUNABLES glibc.malloc.hugetlb)");
      return InferFirstCall(call, tuning.top_pad());
    }
    if (!call.main_thread)
      return Uncertain("first call of a thread: tcache_init may have grown the heap first");
  }
  // An in-place realloc that lowered the break only shrank (a grow-and-trim always ends higher).
  bool in_place_growth =
      IsRealloc(call.kind) && call.address && call.address == call.old_address && call.after > call.before;
  uint64_t alignment = EffectiveAlignment(call);
  bool aligned = alignment != 0 || call.kind == RecordKind::kPvalloc ||
                 call.kind == RecordKind::kNewAligned || call.kind == RecordKind::kNewArrayAligned;
  if (!in_place_growth && !(aligned && alignment != 1)) return {};
  if (!call.main_heap_chunk) return {};  // served elsewhere (mmap, thread arena): not the growth's chunk
  if (!tuning.modelled())
    return Uncertain("malloc tuning not modelled (GLIBC_TUNABLES glibc.malloc.hugetlb)");
  if (in_place_growth) return InferInPlaceRealloc(call, tuning.top_pad());
  if (alignment == 0)
    return Uncertain("aligned allocation of a kind whose request glibc rounds (pvalloc, aligned new)");
  return InferMemalign(call, alignment, tuning.top_pad());
}

}  // namespace memtrace::analyzer

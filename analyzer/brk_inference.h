// Break moves a record's before/after cannot show. The preload reads libc's __curbrk after each hooked
// call, so a call in which glibc's malloc grew the heap (sysmalloc -> __sbrk) and then trimmed it
// (systrim) records one net move where the kernel saw two brk calls. glibc's internal __sbrk cannot be
// interposed, so the intermediate break is derived here, from the records, with glibc 2.36's own
// arithmetic (malloc/malloc.c), and accepted only when that arithmetic reproduces the recorded final
// break exactly. Where the facts do not pin the intermediate break down, the move is reported as
// uncertain instead of guessed.
//
// Which calls can move the break twice (glibc 2.36, main arena, contiguous sbrk heap):
//   - realloc growing a block in place when the block borders the top chunk and the top is too small:
//     _int_realloc -> _int_malloc -> sysmalloc grows the top, the new chunk is carved at the old top's
//     start (the block's end), _int_realloc merges it with the block and frees the block's old size as
//     a remainder, which joins the top; _int_free then finds the top above trim_threshold and systrims.
//     Inferred exactly from the old chunk size (the block's previous record), the new chunk size and
//     the break before (see InferInPlaceRealloc).
//   - the memalign family: _int_memalign asks _int_malloc for nb + alignment + MINSIZE (sysmalloc may
//     grow), then frees the unused tail, which joins the top and may be trimmed. The chunk _int_malloc
//     returned (the old top's start) is not recorded, only the aligned block inside it, so each start
//     it may have had is tried, at or above the end of the highest live block; exact when they all
//     agree, uncertain otherwise (a grow to one page more then a trim can end where a plain grow does).
//   - a thread's first malloc call: tcache_init's _int_malloc of the thread's tcache (a 0x290-byte
//     chunk) runs first and may grow the heap, then the request may grow it again. Inferred when the heap
//     was fresh (the block sits right after the tcache chunk, at the old break + 0x290: sysmalloc's
//     first growth is exactly nb + top_pad + MINSIZE, page-aligned); uncertain for a thread other than
//     the main one (whose tcache exists before tracing starts unless the heap was fresh).
//   - any growth after the program moved the break itself (sbrk/brk): sysmalloc then finds the break
//     elsewhere than its top's end and makes a second, correcting sbrk. Reported as uncertain.
// Every other call moves the break at most once: malloc/calloc only grow (sysmalloc), free and
// malloc_trim only trim (systrim), a moving realloc's grow leaves the new chunk between the freed old
// block and the top, so that free cannot trim.
//
// Not detectable from the records: a call whose two moves cancel out (up and back to the same break)
// leaves no trace on its record. Only the memalign family can do that (with M_TOP_PAD below the
// alignment: tests/programs/brk_double_move.c netzero); an in-place realloc's pair always ends above
// where it started, and a first call's two moves are both upward.
//
// Why here and not in the preload: every fact the arithmetic needs is already in the trace (the old
// chunk size in the block's previous record, the live blocks below the top, the top pad from the
// environment and mallopt records), so the preload stays as cheap as it is in every hook and the trace
// format does not change (old and packed traces get the inference too); the derivation can be improved
// without tracing again. The price: a consumer must hand BreakTimeline its HeapState for the old sizes.
#pragma once

#include <cstdint>
#include <string_view>

#include "analyzer/event_facts.h"

namespace memtrace::analyzer {

// The malloc parameters that decide how far sysmalloc grows and systrim trims, followed through the
// trace: GLIBC_TUNABLES / MALLOC_* environment (kEnvironment) and mallopt calls (kMallopt).
class MallocTuning {
 public:
  static constexpr uint64_t kDefaultTopPad = 128 * 1024;  // malloc.c DEFAULT_TOP_PAD
  static constexpr uint64_t kPageSize = 4096;             // x86-64 GLRO(dl_pagesize)

  void Apply(const Event& e);
  void ApplyEnvironment(std::string_view entry);

  uint64_t top_pad() const { return top_pad_; }
  // False once a setting was seen that changes sysmalloc's arithmetic in a way not modelled here
  // (transparent huge pages: glibc.malloc.hugetlb), or an unreadable top_pad value.
  bool modelled() const { return modelled_; }

 private:
  uint64_t top_pad_ = kDefaultTopPad;
  bool modelled_ = true;
};

// The facts of one call that moved the break, from its record (and, for a realloc, the record that
// last sized the block).
struct BreakCall {
  RecordKind kind = RecordKind::kMalloc;
  uint64_t before = 0;
  uint64_t after = 0;
  uint64_t address = 0;          // the block returned (0 for releases)
  uint64_t old_address = 0;      // realloc: the block passed in
  uint64_t requested = 0;        // bytes asked for
  uint64_t alignment = 0;        // memalign family, as asked
  uint64_t chunk_size = 0;       // glibc's chunk size of the result, 0 if unknown
  uint64_t old_chunk_size = 0;   // realloc: the block's chunk size before the call, 0 if unknown
  bool main_heap_chunk = false;  // the result is a main-arena chunk in the sbrk heap (header read)
  // The highest end of a chunk known to be in use in the sbrk heap before the call (live blocks of the
  // trace), 0 if none: the top chunk started at or above it.
  uint64_t heap_floor = 0;
  bool after_foreign_move = false;    // the program itself moved the break since malloc last did
  bool first_call_of_thread = false;  // the thread's first malloc-family call in the trace
  bool main_thread = false;
};

enum class BreakCertainty : uint8_t {
  kRecorded,   // one move, exactly as recorded
  kInferred,   // two moves: before -> intermediate -> after, the intermediate from glibc's arithmetic
  kUncertain,  // the recorded net move; glibc may have moved the break more than once in this call
};

inline const char* CertaintyName(BreakCertainty certainty) {
  switch (certainty) {
    case BreakCertainty::kRecorded: return "recorded";
    case BreakCertainty::kInferred: return "inferred";
    case BreakCertainty::kUncertain: return "uncertain";
  }
  return "uncertain";
}

struct BreakInference {
  BreakCertainty certainty = BreakCertainty::kRecorded;
  uint64_t intermediate = 0;  // kInferred only
  const char* reason = "";    // why, for kInferred and kUncertain
};

BreakInference InferBreakMoves(const BreakCall& call, const MallocTuning& tuning);

}  // namespace memtrace::analyzer

#include "preload/stack_capture.h"

#include <dlfcn.h>
#include <elf.h>
#include <fcntl.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <atomic>

#include "preload/cfi_unwinder.h"
#include "preload/eh_frame_index.h"
#include "preload/frame_rule_cache.h"
#include "preload/stack_table.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

namespace {

constexpr int kOwnFramesMax = 8;  // hook frames above the caller, skipped by address range

using Backtrace = int (*)(void**, int);
Backtrace unwind_backtrace = nullptr;  // libunwind's, when selected or for the check mode
bool use_libunwind = false;            // MEMTRACE_UNWINDER=libunwind
int max_depth = 64;

// MEMTRACE_UNWIND_CHECK=FILE: every stack is unwound both ways; differences and, at exit, the count of
// stacks compared are appended to FILE with write(2) (async-signal-safe, no buffering to lose).
int check_fd = -1;
std::atomic<uint64_t> stacks_compared{0};
std::atomic<uint64_t> stacks_differing{0};
uint64_t own_text_begin = 0;  // libmemtrace.so's mapped extent: frames inside it are ours
uint64_t own_text_end = 0;
uint64_t unwinder_begin = 0;  // libunwind's mapped extent
uint64_t unwinder_end = 0;

struct ObjectExtent {
  uint64_t begin;
  uint64_t end;
};

// The loaded extent [begin, end) of the object described by `info`.
ObjectExtent ExtentOf(const dl_phdr_info* info) {
  uint64_t low = UINT64_MAX, high = 0;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    if (phdr.p_type != PT_LOAD) continue;
    low = phdr.p_vaddr < low ? phdr.p_vaddr : low;
    high = phdr.p_vaddr + phdr.p_memsz > high ? phdr.p_vaddr + phdr.p_memsz : high;
  }
  if (high == 0) return {0, 0};
  return {info->dlpi_addr + low, info->dlpi_addr + high};
}

// Finds the extents of libmemtrace.so and of the loaded libunwind.
int FindExtents(dl_phdr_info* info, size_t, void*) {
  ObjectExtent extent = ExtentOf(info);
  uint64_t self = reinterpret_cast<uint64_t>(&FindExtents);
  uint64_t unwinder = reinterpret_cast<uint64_t>(unwind_backtrace);
  if (self >= extent.begin && self < extent.end) {
    own_text_begin = extent.begin;
    own_text_end = extent.end;
  }
  if (unwinder >= extent.begin && unwinder < extent.end) {
    unwinder_begin = extent.begin;
    unwinder_end = extent.end;
  }
  return 0;
}

// The GNU build id from the object's PT_NOTE segments, or 0 bytes.
uint32_t BuildIdOf(const dl_phdr_info* info, const uint8_t** id) {
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    if (phdr.p_type != PT_NOTE) continue;
    const uint8_t* note = reinterpret_cast<const uint8_t*>(info->dlpi_addr + phdr.p_vaddr);
    const uint8_t* end = note + phdr.p_memsz;
    while (note + sizeof(ElfW(Nhdr)) <= end) {
      const auto* header = reinterpret_cast<const ElfW(Nhdr)*>(note);
      const uint8_t* name = note + sizeof(ElfW(Nhdr));
      const uint8_t* desc = name + ((header->n_namesz + 3) & ~3u);
      if (header->n_type == NT_GNU_BUILD_ID && header->n_namesz == 4 && memcmp(name, "GNU", 4) == 0 &&
          desc + header->n_descsz <= end) {
        *id = desc;
        return header->n_descsz;
      }
      note = desc + ((header->n_descsz + 3) & ~3u);
    }
  }
  return 0;
}

int EmitModule(dl_phdr_info* info, size_t, void* data) {
  auto& thread = *static_cast<ThreadState*>(data);
  ObjectExtent extent = ExtentOf(info);
  if (extent.end == 0) return 0;
  char executable[512];
  const char* path = info->dlpi_name;
  if (!path || !*path) {
    ssize_t n = readlink("/proc/self/exe", executable, sizeof executable - 1);
    executable[n > 0 ? n : 0] = 0;
    path = executable;
  }
  format::Record record;
  record.kind = format::RecordKind::kModule;
  record.timestamp = NowNanoseconds();
  record.address = info->dlpi_addr;
  record.size = extent.end - info->dlpi_addr;
  record.bytes = reinterpret_cast<const uint8_t*>(path);
  record.byte_count = static_cast<uint32_t>(strnlen(path, format::kMaxMetaBytes));
  record.build_id_count = BuildIdOf(info, &record.build_id);
  Append(thread, record);
  return 0;
}

}  // namespace

bool InitializeStackCapture(bool after_fork) {
  if (!after_fork) {
    const char* enabled = getenv("MEMTRACE_STACKS");
    if (enabled && strcmp(enabled, "0") == 0) return false;
    if (const char* depth = getenv("MEMTRACE_STACK_DEPTH")) {
      int value = atoi(depth);
      if (value > 0) max_depth = value < static_cast<int>(format::kMaxFrames) ? value : format::kMaxFrames;
    }
    const char* unwinder = getenv("MEMTRACE_UNWINDER");
    use_libunwind = unwinder && strcmp(unwinder, "libunwind") == 0;
    if (const char* check = getenv("MEMTRACE_UNWIND_CHECK"); check && *check) {
      check_fd = open(check, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    }
    void* library = nullptr;
    if (use_libunwind || check_fd >= 0) library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (library) unwind_backtrace = reinterpret_cast<Backtrace>(dlsym(library, "unw_backtrace"));
    dl_iterate_phdr(FindExtents, nullptr);
    SetFramePointerCode(own_text_begin, own_text_end);  // built -fno-omit-frame-pointer
    if (!use_libunwind) ModuleIndexEpoch();             // the first module snapshot, while nothing else runs
    if (!unwind_backtrace) {
      if (use_libunwind) return false;
      if (check_fd >= 0) close(check_fd);
      check_fd = -1;  // nothing to check against
      return ResetStackTable();
    }
    // Per-thread caching keeps unw_backtrace lock-free (the global cache takes a lock).
    using SetCaching = int (*)(void*, int);
    auto set_caching = reinterpret_cast<SetCaching>(dlsym(library, "_ULx86_64_set_caching_policy"));
    void** address_space = static_cast<void**>(dlsym(library, "_ULx86_64_local_addr_space"));
    constexpr int kCachePerThread = 2;  // UNW_CACHE_PER_THREAD
    if (set_caching && address_space) set_caching(*address_space, kCachePerThread);
  }
  return (!use_libunwind || unwind_backtrace) && ResetStackTable();
}

namespace {

// Drops the frames inside libmemtrace.so (the hook itself and the trampolines memtrace puts under main
// and thread start routines) wherever they are, and caps the rest at max_depth. Returns the count kept.
// The calling thread's last unwind (unfiltered frames) and the id it got: initial-exec TLS, 520 bytes.
constexpr int kLastStackFrames = 64;
struct LastStack {
  uint32_t generation;  // trace_generation when looked up
  uint32_t id;          // 0: none
  int count;
  uint64_t frames[kLastStackFrames];
};
__thread LastStack last_stack __attribute__((tls_model("initial-exec")));

int KeepProgramFrames(uint64_t* frames, int count) {
  int kept = 0;
  for (int i = 0; i < count && kept < max_depth; ++i) {
    if (frames[i] >= own_text_begin && frames[i] < own_text_end) continue;
    frames[kept++] = frames[i];
  }
  return kept;
}

// Appends `text` then `count` frames in hex to `line`; returns the new end.
char* AppendFrames(char* line, char* end, const char* text, const uint64_t* frames, int count) {
  while (*text && line < end) *line++ = *text++;
  for (int i = 0; i < count && end - line > 18; ++i) {
    *line++ = ' ';
    int digits = 1;
    while (digits < 16 && frames[i] >> (4 * digits)) ++digits;
    for (int d = digits - 1; d >= 0; --d) *line++ = "0123456789abcdef"[(frames[i] >> (4 * d)) & 15];
  }
  return line;
}

char* AppendNumber(char* line, uint64_t value) {
  char digits[24];
  int n = 0;
  do digits[n++] = static_cast<char>('0' + value % 10);
  while (value /= 10);
  while (n) *line++ = digits[--n];
  return line;
}

// The check mode: libunwind's stack for the same call, compared after the same filtering.
[[gnu::noinline]] void CheckAgainstLibunwind(const uint64_t* ours, int ours_kept) {
  uint64_t theirs[format::kMaxFrames + kOwnFramesMax];
  int count = unwind_backtrace(reinterpret_cast<void**>(theirs), max_depth + kOwnFramesMax);
  int kept = KeepProgramFrames(theirs, count);
  stacks_compared.fetch_add(1, std::memory_order_relaxed);
  if (kept == ours_kept && memcmp(ours, theirs, sizeof(uint64_t) * static_cast<size_t>(kept)) == 0) return;
  stacks_differing.fetch_add(1, std::memory_order_relaxed);
  char line[4096];  // a longer difference is cut short: still a difference
  char* end = line + sizeof line - 1;
  char* p = line;
  const char head[] = "difference pid ";
  memcpy(p, head, sizeof head - 1);
  p = AppendNumber(p + sizeof head - 1, static_cast<uint64_t>(getpid()));
  p = AppendFrames(p, end, " ours:", ours, ours_kept);
  p = AppendFrames(p, end, " libunwind:", theirs, kept);
  *p++ = '\n';
  ssize_t ignored = write(check_fd, line, static_cast<size_t>(p - line));
  (void)ignored;
}

}  // namespace

uint32_t CaptureStack(ThreadState& thread, uint64_t timestamp, const void* hook_frame) {
  uint64_t frames[format::kMaxFrames + kOwnFramesMax];
  int count;
  if (use_libunwind) {
    count = unwind_backtrace(reinterpret_cast<void**>(frames), max_depth + kOwnFramesMax);
  } else if (hook_frame) {
    // Straight from the hook's caller, as CfiBacktrace does from its own: the saved RBP at [fp], the
    // return address at [fp + 8], the caller's stack pointer fp + 16. No walk through memtrace's frames.
    const auto* fp = static_cast<const uint64_t*>(hook_frame);
    count = CfiUnwindFrom(fp[1], reinterpret_cast<uint64_t>(fp + 2), fp[0], false, frames,
                          max_depth + kOwnFramesMax);
  } else {
    count = CfiBacktrace(frames, max_depth + kOwnFramesMax);
  }
  // A loop allocating from one place unwinds to the same frames every time: then the id is the last
  // one, without filtering and hashing them again. Not across a fork: the child's trace has not
  // defined that id.
  LastStack& last = last_stack;
  uint32_t generation = trace_generation.load(std::memory_order_relaxed);
  bool cacheable = count <= kLastStackFrames && check_fd < 0;
  if (cacheable && count == last.count && generation == last.generation && last.id &&
      memcmp(frames, last.frames, sizeof(uint64_t) * static_cast<size_t>(count)) == 0) {
    return last.id;
  }
  if (cacheable) {
    memcpy(last.frames, frames, sizeof(uint64_t) * static_cast<size_t>(count));
    last.count = count;
    last.generation = generation;
    last.id = 0;  // until looked up: a signal handler's capture in between must not trust it
  }
  int kept = KeepProgramFrames(frames, count);
  if (check_fd >= 0 && unwind_backtrace) CheckAgainstLibunwind(frames, kept);
  if (kept <= 0) return 0;
  StackLookup lookup = LookUpStack(frames, static_cast<uint32_t>(kept));
  if (cacheable) last.id = lookup.id;
  if (lookup.is_new) {
    format::Record record;
    record.kind = format::RecordKind::kStackDef;
    record.timestamp = timestamp;
    record.stack_id = lookup.id;
    record.frame_count = static_cast<uint32_t>(kept);
    record.frames = frames;
    Append(thread, record);
  }
  return lookup.id;
}

bool IsUnwinderCode(uint64_t address) { return address >= unwinder_begin && address < unwinder_end; }

void UnwinderTableRange(const void** begin, const void** end) { RuleCacheRange(begin, end); }

void FinishStackCapture() {
  if (check_fd < 0) return;
  char line[96];
  const char head[] = "compared pid ";
  memcpy(line, head, sizeof head - 1);
  char* p = AppendNumber(line + sizeof head - 1, static_cast<uint64_t>(getpid()));
  *p++ = ' ';
  p = AppendNumber(p, stacks_compared.load(std::memory_order_relaxed));
  const char middle[] = " stacks, differences ";
  memcpy(p, middle, sizeof middle - 1);
  p = AppendNumber(p + sizeof middle - 1, stacks_differing.load(std::memory_order_relaxed));
  *p++ = '\n';
  ssize_t ignored = write(check_fd, line, static_cast<size_t>(p - line));
  (void)ignored;
}

void EmitModules(ThreadState& thread) { dl_iterate_phdr(EmitModule, &thread); }

}  // namespace memtrace::preload

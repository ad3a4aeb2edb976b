#include "preload/stack_capture.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "preload/stack_table.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

namespace {

constexpr int kOwnFramesMax = 8;  // hook frames above the caller, skipped by address range

using Backtrace = int (*)(void**, int);
Backtrace unwind_backtrace = nullptr;
int max_depth = 64;
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
    void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
    if (!library) return false;
    unwind_backtrace = reinterpret_cast<Backtrace>(dlsym(library, "unw_backtrace"));
    // Per-thread caching keeps unw_backtrace lock-free (the global cache takes a lock).
    using SetCaching = int (*)(void*, int);
    auto set_caching = reinterpret_cast<SetCaching>(dlsym(library, "_ULx86_64_set_caching_policy"));
    void** address_space = static_cast<void**>(dlsym(library, "_ULx86_64_local_addr_space"));
    constexpr int kCachePerThread = 2;  // UNW_CACHE_PER_THREAD
    if (set_caching && address_space) set_caching(*address_space, kCachePerThread);
    dl_iterate_phdr(FindExtents, nullptr);
  }
  return unwind_backtrace && ResetStackTable();
}

uint32_t CaptureStack(ThreadState& thread, uint64_t timestamp) {
  if (!unwind_backtrace) return 0;
  void* raw[format::kMaxFrames + kOwnFramesMax];
  int count = unwind_backtrace(raw, max_depth + kOwnFramesMax);
  // Frames inside libmemtrace.so are ours: the hook itself and the trampolines memtrace puts under
  // main and thread start routines. Drop them wherever they are.
  int kept = 0;
  for (int i = 0; i < count && kept < max_depth; ++i) {
    uint64_t pc = reinterpret_cast<uint64_t>(raw[i]);
    if (pc >= own_text_begin && pc < own_text_end) continue;
    raw[kept++] = raw[i];
  }
  if (kept <= 0) return 0;
  const uint64_t* frames = reinterpret_cast<const uint64_t*>(raw);
  StackLookup lookup = LookUpStack(frames, static_cast<uint32_t>(kept));
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

void EmitModules(ThreadState& thread) { dl_iterate_phdr(EmitModule, &thread); }

}  // namespace memtrace::preload

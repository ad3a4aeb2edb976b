#include "preload/eh_frame_index.h"

#include <elf.h>
#include <link.h>
#include <sched.h>
#include <sys/mman.h>

#include <atomic>

#include "preload/dwarf_reader.h"

namespace memtrace::preload {

namespace {

struct Module {
  uint64_t begin;  // mapped extent of the module's PT_LOAD segments
  uint64_t end;
  uint64_t hdr;          // .eh_frame_hdr address (the base of its data-relative table entries)
  const int32_t* table;  // (initial location, FDE address) pairs, data-relative sdata4, sorted
  uint64_t count;        // table entries; 0 when the module has no usable table
  uint64_t cfi_begin;    // the PT_LOAD segment holding .eh_frame_hdr (and .eh_frame): CFI reads stay
  uint64_t cfi_end;      // inside it, never in the unmapped gaps between a module's segments
};

// Layout of a snapshot mapping: this header, then `count` modules sorted by `begin`.
struct Snapshot {
  uint64_t bytes;  // the mapping's size, for munmap
  unsigned long long adds;
  unsigned long long subs;
  uint32_t generation;  // library_generation when built
  uint32_t epoch;
  uint64_t count;
  Snapshot* retired_next;  // list of replaced snapshots waiting for no reader
  Module modules[1];
};

std::atomic<Snapshot*> current{nullptr};
// The current snapshot's (generation << 32 | epoch), published after it: ModuleIndexEpoch runs on
// every unwind and must not touch the shared `readers` counter (two locked operations on one cache
// line for all threads) just to learn a number.
std::atomic<uint64_t> published_epoch{0};
std::atomic<int> readers{0};
std::atomic<bool> rebuilding{false};
std::atomic<uint32_t> library_generation{1};
std::atomic<uint32_t> next_epoch{1};
Snapshot* retired = nullptr;  // guarded by `rebuilding`

struct Counters {
  unsigned long long adds = 0;
  unsigned long long subs = 0;
  uint64_t modules = 0;
};

int CountModules(dl_phdr_info* info, size_t size, void* data) {
  auto* counters = static_cast<Counters*>(data);
  if (size >= offsetof(dl_phdr_info, dlpi_subs) + sizeof info->dlpi_subs) {
    counters->adds = info->dlpi_adds;
    counters->subs = info->dlpi_subs;
  }
  ++counters->modules;
  return 0;
}

// Stops after the first module: only the counters (the same in every callback) are wanted.
int ReadCounters(dl_phdr_info* info, size_t size, void* data) {
  CountModules(info, size, data);
  return 1;
}

// The .eh_frame_hdr's search table, if it has the layout every linker writes (version 1, table of
// datarel sdata4 pairs). Anything else leaves the module without a table.
void IndexTable(const dl_phdr_info* info, const ElfW(Phdr) & phdr, Module* module) {
  const auto* hdr = reinterpret_cast<const uint8_t*>(info->dlpi_addr + phdr.p_vaddr);
  DwarfReader in(hdr, hdr + phdr.p_memsz);
  uint8_t version = in.U8();
  uint8_t frame_encoding = in.U8();
  uint8_t count_encoding = in.U8();
  uint8_t table_encoding = in.U8();
  if (!in.ok() || version != 1 || count_encoding == kPeOmit || table_encoding != (kPeDatarel | kPeSdata4))
    return;
  in.Pointer(frame_encoding, reinterpret_cast<uint64_t>(hdr));
  uint64_t count = in.Pointer(count_encoding, reinterpret_cast<uint64_t>(hdr));
  if (!in.ok() || count > in.remaining() / 8) return;
  module->hdr = reinterpret_cast<uint64_t>(hdr);
  module->table = reinterpret_cast<const int32_t*>(in.position());
  module->count = count;
}

int AddModule(dl_phdr_info* info, size_t, void* data) {
  auto* snapshot = static_cast<Snapshot*>(data);
  uint64_t capacity = (snapshot->bytes - offsetof(Snapshot, modules)) / sizeof(Module);
  if (snapshot->count == capacity) return 1;
  Module module{UINT64_MAX, 0, 0, nullptr, 0, 0, 0};
  const ElfW(Phdr)* eh_frame_hdr = nullptr;
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
    if (phdr.p_type == PT_GNU_EH_FRAME) eh_frame_hdr = &phdr;
    if (phdr.p_type != PT_LOAD) continue;
    uint64_t begin = info->dlpi_addr + phdr.p_vaddr;
    if (begin < module.begin) module.begin = begin;
    if (begin + phdr.p_memsz > module.end) module.end = begin + phdr.p_memsz;
  }
  if (module.end == 0) return 0;
  if (eh_frame_hdr) {
    for (int i = 0; i < info->dlpi_phnum; ++i) {
      const ElfW(Phdr)& phdr = info->dlpi_phdr[i];
      if (phdr.p_type == PT_LOAD && phdr.p_vaddr <= eh_frame_hdr->p_vaddr &&
          eh_frame_hdr->p_vaddr + eh_frame_hdr->p_memsz <= phdr.p_vaddr + phdr.p_memsz) {
        module.cfi_begin = info->dlpi_addr + phdr.p_vaddr;
        module.cfi_end = module.cfi_begin + phdr.p_memsz;
      }
    }
    if (module.cfi_end) IndexTable(info, *eh_frame_hdr, &module);
  }
  // Insertion sort: a few dozen modules, and the loader's order is nearly sorted already.
  uint64_t i = snapshot->count++;
  while (i > 0 && snapshot->modules[i - 1].begin > module.begin) {
    snapshot->modules[i] = snapshot->modules[i - 1];
    --i;
  }
  snapshot->modules[i] = module;
  return 0;
}

// Two snapshot buffers in the library's .bss, used in turn: memory that exists from start-up, so the
// maps reconstruction never sees the unwinder map anything. A rebuild reuses the buffer that is not
// current only when no other lookup is in flight (one that is might still read it); otherwise, or
// for more modules than fit, the snapshot comes from mmap and is retired as described above.
constexpr uint64_t kStaticSnapshotBytes = 64 * 1024;  // about 1,600 modules
alignas(64) unsigned char static_snapshots[2][kStaticSnapshotBytes];

bool IsStatic(const Snapshot* snapshot) {
  const auto* p = reinterpret_cast<const unsigned char*>(snapshot);
  return p >= static_snapshots[0] && p < static_snapshots[0] + sizeof static_snapshots;
}

void FreeRetired() {
  while (retired) {
    Snapshot* next = retired->retired_next;
    munmap(retired, retired->bytes);
    retired = next;
  }
}

// Builds and publishes a new snapshot unless another thread is at it. Returns the current one.
Snapshot* Rebuild(Snapshot* old) {
  if (rebuilding.exchange(true, std::memory_order_acquire)) {
    // The first unwinds of several threads at once: rather than no stack, wait (a bounded time) for
    // the thread building the first snapshot. It cannot be this thread: a hook that a signal
    // interrupted mid-build passes the handler's calls straight through, unwinding nothing.
    for (int tries = 0; !old && tries < 20000; ++tries) {
      sched_yield();
      old = current.load(std::memory_order_seq_cst);
    }
    return old;
  }
  uint32_t generation = library_generation.load(std::memory_order_acquire);
  Counters counters;
  dl_iterate_phdr(CountModules, &counters);
  // Room for modules loaded between the count and the walk.
  uint64_t bytes = offsetof(Snapshot, modules) + (counters.modules + 16) * sizeof(Module);
  bytes = (bytes + 4095) & ~uint64_t{4095};
  void* memory;
  if (bytes <= kStaticSnapshotBytes && readers.load(std::memory_order_seq_cst) == 1) {  // 1: this thread
    unsigned char* spare = static_snapshots[0];
    if (old == reinterpret_cast<Snapshot*>(spare)) spare = static_snapshots[1];
    memory = spare;
    bytes = kStaticSnapshotBytes;
  } else {
    memory = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  }
  if (memory == MAP_FAILED) {
    rebuilding.store(false, std::memory_order_release);
    return old;
  }
  auto* snapshot = static_cast<Snapshot*>(memory);
  snapshot->bytes = bytes;
  snapshot->count = 0;
  snapshot->retired_next = nullptr;
  snapshot->generation = generation;
  snapshot->epoch = next_epoch.fetch_add(1, std::memory_order_relaxed);
  dl_iterate_phdr(AddModule, snapshot);
  dl_iterate_phdr(ReadCounters, &counters);
  snapshot->adds = counters.adds;
  snapshot->subs = counters.subs;
  current.store(snapshot, std::memory_order_seq_cst);
  published_epoch.store(uint64_t{generation} << 32 | snapshot->epoch, std::memory_order_release);
  if (old && !IsStatic(old)) {
    old->retired_next = retired;
    retired = old;
  }
  // Any reader that still holds an old snapshot registered before this load; later ones see the new.
  if (readers.load(std::memory_order_seq_cst) == 1) FreeRetired();  // 1: this thread itself
  rebuilding.store(false, std::memory_order_release);
  return snapshot;
}

const Module* ModuleOf(const Snapshot* snapshot, uint64_t pc) {
  uint64_t low = 0, high = snapshot->count;  // first module with begin > pc, minus one
  while (low < high) {
    uint64_t middle = (low + high) / 2;
    if (snapshot->modules[middle].begin <= pc)
      low = middle + 1;
    else
      high = middle;
  }
  if (low == 0) return nullptr;
  const Module* module = &snapshot->modules[low - 1];
  return pc < module->end ? module : nullptr;
}

bool CountersMoved(const Snapshot* snapshot) {
  Counters counters;
  dl_iterate_phdr(ReadCounters, &counters);
  return counters.adds != snapshot->adds || counters.subs != snapshot->subs;
}

class ReaderScope {
 public:
  ReaderScope() { readers.fetch_add(1, std::memory_order_seq_cst); }
  ~ReaderScope() { readers.fetch_sub(1, std::memory_order_seq_cst); }
};

}  // namespace

FdeSearch FindFde(uint64_t pc, FdeLocation* out) {
  ReaderScope scope;
  Snapshot* snapshot = current.load(std::memory_order_seq_cst);
  if (!snapshot || snapshot->generation != library_generation.load(std::memory_order_acquire)) {
    snapshot = Rebuild(snapshot);
    if (!snapshot) return FdeSearch::kNoModule;
  }
  const Module* module = ModuleOf(snapshot, pc);
  if (!module && CountersMoved(snapshot)) {
    snapshot = Rebuild(snapshot);
    module = ModuleOf(snapshot, pc);
  }
  if (!module) return FdeSearch::kNoModule;
  // The last entry whose initial location is <= pc.
  const int32_t* table = module->table;
  uint64_t base = module->hdr;
  uint64_t low = 0, high = module->count;
  while (low < high) {
    uint64_t middle = (low + high) / 2;
    if (base + static_cast<int64_t>(table[2 * middle]) <= pc)
      low = middle + 1;
    else
      high = middle;
  }
  if (low == 0) return FdeSearch::kNoFde;
  uint64_t fde = base + static_cast<int64_t>(table[2 * (low - 1) + 1]);
  if (fde < module->cfi_begin || fde >= module->cfi_end) return FdeSearch::kNoFde;
  out->fde = reinterpret_cast<const uint8_t*>(fde);
  out->limit = reinterpret_cast<const uint8_t*>(module->cfi_end);
  return FdeSearch::kFound;
}

uint32_t ModuleIndexEpoch() {
  uint64_t published = published_epoch.load(std::memory_order_acquire);
  if (published && published >> 32 == library_generation.load(std::memory_order_acquire)) [[likely]] {
    return static_cast<uint32_t>(published);
  }
  ReaderScope scope;
  Snapshot* snapshot = current.load(std::memory_order_seq_cst);
  if (!snapshot || snapshot->generation != library_generation.load(std::memory_order_acquire)) {
    snapshot = Rebuild(snapshot);
  }
  return snapshot ? snapshot->epoch : 0;
}

void NoteLibrariesChanged() { library_generation.fetch_add(1, std::memory_order_release); }

void ResetModuleIndex() {
  Snapshot* snapshot = current.exchange(nullptr, std::memory_order_acq_rel);
  if (snapshot && !IsStatic(snapshot)) munmap(snapshot, snapshot->bytes);
  FreeRetired();
}

}  // namespace memtrace::preload

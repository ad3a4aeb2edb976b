// Which FDE covers a PC: an index over the loaded modules' .eh_frame_hdr binary-search tables.
//
// The module list is a snapshot taken with dl_iterate_phdr (each module's PT_LOAD extent and its
// PT_GNU_EH_FRAME table), built lazily in one of two static buffers (or, failing those, in mmap'ed
// memory; never malloc: it runs inside the allocation hooks). It is rebuilt when a PC falls outside every
// module and the loader's dlpi_adds/dlpi_subs counters moved since the snapshot, and before the next lookup
// after NoteLibrariesChanged (called by memtrace's dlopen/dlclose hooks), so a dlclose'd module's table is
// never searched again.
//
// Concurrency contract: lookups are lock-free and run in any number of threads. The current snapshot
// is published through an atomic pointer; a rebuild (one thread at a time, by a try-lock: a thread
// that loses the race searches the previous snapshot) publishes a new one. Old snapshots are unmapped
// only when no lookup is in flight (a seq_cst reader count, checked after the new pointer is
// published), so a reader never sees its snapshot unmapped. A module dlclose'd by another thread
// *during* a lookup is the one race left, as in libunwind and libgcc. Signal handlers never get here
// (hooks re-entered from a handler pass through).
#pragma once

#include <cstdint>

namespace memtrace::preload {

struct FdeLocation {
  const uint8_t* fde = nullptr;    // the FDE's length field
  const uint8_t* limit = nullptr;  // the end of the module's segment holding its CFI: no read goes past it
};

enum class FdeSearch { kFound, kNoFde, kNoModule };

// Finds the FDE whose table entry is the last at or below `pc` in the module containing `pc`.
// kNoFde: a module contains `pc` but no table entry precedes it (the caller still checks the FDE's
// range). kNoModule: no loaded module contains `pc`, even after a refresh.
FdeSearch FindFde(uint64_t pc, FdeLocation* out);

// A number that changes whenever the module snapshot is replaced (rebuilding it first if a dlopen or
// dlclose was noted): cached results computed under another epoch may describe unloaded code. Two
// atomic loads when nothing changed.
uint32_t ModuleIndexEpoch();

// Called after the program's dlopen/dlclose: the next lookup rebuilds the snapshot.
void NoteLibrariesChanged();

// Drops the snapshot (fork child: the same modules, but nothing to gain from keeping state shared
// with no one). Safe only when no other thread runs.
void ResetModuleIndex();

}  // namespace memtrace::preload

// Which allocators `memtrace replay --allocator` can put under a replay: glibc's own (nothing
// preloaded), Debian's jemalloc, tcmalloc and mimalloc, or any allocator .so by path.
#pragma once

#include <string>
#include <vector>

namespace memtrace::replay {

struct AllocatorChoice {
  std::string name;     // as shown in reports: glibc, jemalloc, ..., or the path given
  std::string library;  // the .so to LD_PRELOAD; empty for glibc
};

// Parses NAME (glibc|jemalloc|tcmalloc|mimalloc|PATH.so|all). "all" lists glibc and every named
// allocator that is installed, adding a note per missing one to *skipped. False with *error on an
// unknown name or a library that does not exist.
bool ResolveAllocators(const std::string& text, std::vector<AllocatorChoice>* choices,
                       std::vector<std::string>* skipped, std::string* error);

}  // namespace memtrace::replay

// Reading /proc/self/maps from inside a traced process, without allocating through the hooks: the
// text goes into an anonymous mapping of its own and is parsed in place.
#pragma once

#include <cstdint>

namespace memtrace::preload {

struct MapLine {
  uint64_t begin;
  uint64_t end;
  bool readable, writable, executable, shared;
  uint64_t offset;
  uint64_t inode;
  const char* path;  // not NUL-terminated; "" for anonymous mappings
  uint32_t path_length;
};

// Calls visit(line, context) for every mapping, in address order, leaving out the buffer the text was
// read into. Returns false if the file could not be read.
bool ForEachMapping(void (*visit)(const MapLine& line, void* context), void* context);

}  // namespace memtrace::preload

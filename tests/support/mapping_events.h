// Events for the mapping reconstruction's unit tests (MapsTimeline, MappingLifetimes).
#pragma once

#include <sys/mman.h>

#include <cstdint>

#include "format/trace_reader.h"

namespace memtrace::test_support {

// A call (or meta record) on anonymous read-write private memory, by thread `tid`.
inline format::Event MappingEvent(format::RecordKind kind, uint64_t timestamp, uint64_t address,
                                  uint64_t size, uint32_t tid = 7) {
  format::Event e;
  e.kind = kind;
  e.timestamp = timestamp;
  e.address = address;
  e.size = size;
  e.prot = PROT_READ | PROT_WRITE;
  e.map_flags = MAP_PRIVATE | MAP_ANONYMOUS;
  e.tid = tid;
  return e;
}

}  // namespace memtrace::test_support

// Runs memtrace-replay in a fresh process: the chosen allocator preloaded, the malloc environment the
// trace recorded (GLIBC_TUNABLES, MALLOC_*) restored and any other such setting removed, so glibc
// starts with the same tunables the traced program had.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "analyzer/replay/allocator_choice.h"

namespace memtrace::replay {

struct ReplayMeasurement {
  AllocatorChoice allocator;
  std::string malloc_library;             // where malloc resolved in the replay process
  std::map<std::string, int64_t> values;  // memtrace-replay's key=value line

  // The value of `key`; -1 when missing (or unknown, as memtrace-replay reports it).
  int64_t Get(const std::string& key) const;
  bool glibc() const { return Get("glibc") == 1; }
};

// memtrace-replay beside the running memtrace binary.
std::string ReplayerPath();

// Replays `ops` with `allocator`. False with *error (one line) if the replayer fails or the allocator
// did not end up serving malloc (ld.so ignores a preload it cannot load).
bool LaunchReplay(const std::string& replayer, const std::string& ops, const AllocatorChoice& allocator,
                  const std::vector<std::string>& environment, bool touch, const std::string& scratch_dir,
                  ReplayMeasurement* out, std::string* error);

}  // namespace memtrace::replay

// The verdicts of the preload's exit-time pointer scan, by block address, and the cost of the scan.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

using format::LeakClass;

struct LeakVerdict {
  LeakClass leak_class = LeakClass::kDefinite;
  uint64_t indirect_bytes = 0;  // for a definitely lost block: bytes lost only through it
};

class LeakClasses : public EventConsumer {
 public:
  void Apply(const format::Event& e) override;

  bool scanned() const { return scanned_; }
  std::optional<LeakVerdict> VerdictAt(uint64_t address) const;
  uint64_t scan_duration_ns() const { return scan_duration_ns_; }
  uint64_t scanned_root_bytes() const { return scanned_root_bytes_; }

 private:
  absl::flat_hash_map<uint64_t, LeakVerdict> verdicts_;
  bool scanned_ = false;
  uint64_t scan_duration_ns_ = 0;
  uint64_t scanned_root_bytes_ = 0;
};

// "definite", "indirect", "possible", "reachable": the names --show, --fail-on and JSON use.
const char* LeakClassKey(LeakClass leak_class);
// valgrind's wording: "definitely lost", "indirectly lost", "possibly lost", "still reachable".
const char* LeakClassWording(LeakClass leak_class);
// Parses "definite,possible" (or "all"); returns false with *error set on an unknown name.
bool ParseLeakClasses(const std::string& text, std::vector<LeakClass>* classes, std::string* error);

}  // namespace memtrace::analyzer

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
  // The threads the scan parked to see their registers and live stacks (kThreadsParked); absent in
  // traces written before the scan parked threads.
  bool parking_recorded() const { return parking_recorded_; }
  uint64_t threads_parked() const { return threads_parked_; }
  uint64_t threads_skipped() const { return threads_skipped_; }
  uint64_t parking_ns() const { return parking_ns_; }

 private:
  absl::flat_hash_map<uint64_t, LeakVerdict> verdicts_;
  bool scanned_ = false;
  uint64_t scan_duration_ns_ = 0;
  uint64_t scanned_root_bytes_ = 0;
  bool parking_recorded_ = false;
  uint64_t threads_parked_ = 0;
  uint64_t threads_skipped_ = 0;
  uint64_t parking_ns_ = 0;
};

// "3 other threads parked in 0.4 ms, 1 skipped", for the reports' leak-scan lines ("" if not recorded).
std::string ParkingDescription(const LeakClasses& classes);

// "definite", "indirect", "possible", "reachable": the names --show, --fail-on and JSON use.
const char* LeakClassKey(LeakClass leak_class);
// valgrind's wording: "definitely lost", "indirectly lost", "possibly lost", "still reachable".
const char* LeakClassWording(LeakClass leak_class);
// Parses "definite,possible" (or "all"); returns false with *error set on an unknown name.
bool ParseLeakClasses(const std::string& text, std::vector<LeakClass>* classes, std::string* error);

}  // namespace memtrace::analyzer

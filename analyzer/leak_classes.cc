#include "analyzer/leak_classes.h"

#include <absl/strings/str_split.h>
#include <fmt/format.h>

namespace memtrace::analyzer {

namespace {

constexpr LeakClass kAllClasses[] = {LeakClass::kDefinite, LeakClass::kIndirect, LeakClass::kPossible,
                                     LeakClass::kReachable};

}  // namespace

void LeakClasses::Apply(const format::Event& e) {
  if (e.kind == format::RecordKind::kLeakClass) {
    auto leak_class = static_cast<LeakClass>(e.param);
    if (leak_class < LeakClass::kReachable || leak_class > LeakClass::kDefinite) return;
    verdicts_[e.address] = {leak_class, e.size};
  } else if (e.kind == format::RecordKind::kLeakScan) {
    scanned_ = true;
    scan_duration_ns_ = static_cast<uint64_t>(e.param);
    scanned_root_bytes_ = e.size;
  } else if (e.kind == format::RecordKind::kThreadsParked) {
    parking_recorded_ = true;
    threads_parked_ = e.count;
    threads_skipped_ = e.size;
    parking_ns_ = static_cast<uint64_t>(e.param);
  }
}

std::string ParkingDescription(const LeakClasses& classes) {
  if (!classes.parking_recorded()) return "";
  if (!classes.threads_parked() && !classes.threads_skipped()) return "no other thread to park";
  std::string text = fmt::format("{} other thread{} parked in {:.3f} ms{}", classes.threads_parked(),
                                 classes.threads_parked() == 1 ? "" : "s", classes.parking_ns() / 1e6,
                                 classes.threads_parked() ? " (registers and live stacks seen)" : "");
  if (classes.threads_skipped()) {
    text += fmt::format(", {} skipped (signal blocked, gone or no answer: whole stacks, no registers)",
                        classes.threads_skipped());
  }
  return text;
}

std::optional<LeakVerdict> LeakClasses::VerdictAt(uint64_t address) const {
  auto it = verdicts_.find(address);
  if (it == verdicts_.end()) return std::nullopt;
  return it->second;
}

const char* LeakClassKey(LeakClass leak_class) {
  switch (leak_class) {
    case LeakClass::kDefinite: return "definite";
    case LeakClass::kIndirect: return "indirect";
    case LeakClass::kPossible: return "possible";
    case LeakClass::kReachable: return "reachable";
  }
  return "definite";
}

const char* LeakClassWording(LeakClass leak_class) {
  switch (leak_class) {
    case LeakClass::kDefinite: return "definitely lost";
    case LeakClass::kIndirect: return "indirectly lost";
    case LeakClass::kPossible: return "possibly lost";
    case LeakClass::kReachable: return "still reachable";
  }
  return "definitely lost";
}

bool ParseLeakClasses(const std::string& text, std::vector<LeakClass>* classes, std::string* error) {
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    if (name == "all") {
      classes->assign(std::begin(kAllClasses), std::end(kAllClasses));
      continue;
    }
    bool known = false;
    for (LeakClass leak_class : kAllClasses) {
      if (name == LeakClassKey(leak_class)) {
        classes->push_back(leak_class);
        known = true;
      }
    }
    if (!known) {
      *error =
          "unknown leak class '" + std::string(name) + "' (use definite, indirect, possible, reachable, all)";
      return false;
    }
  }
  return true;
}

}  // namespace memtrace::analyzer

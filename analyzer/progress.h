// A one-line progress indicator for long reads and exports: drawn on a terminal only (a pipe or file
// gets nothing, so scripts and logs stay clean), redrawn in place with \r at most every `interval`,
// not drawn at all for work that finishes within `delay`, and erased when the work is done.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace memtrace::analyzer {

class ProgressReporter {
 public:
  // Draws on file descriptor `fd` if it is a terminal; otherwise every call does nothing.
  explicit ProgressReporter(int fd, std::chrono::milliseconds interval = std::chrono::milliseconds(100),
                            std::chrono::milliseconds delay = std::chrono::milliseconds(300));
  ~ProgressReporter() { Finish(); }
  ProgressReporter(const ProgressReporter&) = delete;
  ProgressReporter& operator=(const ProgressReporter&) = delete;

  bool active() const { return active_; }
  // Starts a new step, e.g. "reading app.mtr"; the next Update draws "reading app.mtr  42%".
  void Start(std::string_view task);
  // `done` of `total` units of the current step (total 0: unknown, the count is shown instead).
  // Cheap when nothing is due, but callers in per-record loops should still call it sparingly.
  void Update(uint64_t done, uint64_t total);
  // Erases the line, if one was drawn.
  void Finish();

 private:
  void Draw(const std::string& line);
  int fd_;
  bool active_;
  bool drawn_ = false;
  std::chrono::milliseconds interval_;
  std::chrono::milliseconds delay_;
  std::string task_;
  std::chrono::steady_clock::time_point started_{};
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace memtrace::analyzer

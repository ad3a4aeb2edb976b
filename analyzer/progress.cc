#include "analyzer/progress.h"

#include <fmt/core.h>
#include <unistd.h>

namespace memtrace::analyzer {

ProgressReporter::ProgressReporter(int fd, std::chrono::milliseconds interval,
                                   std::chrono::milliseconds delay)
    : fd_(fd), active_(isatty(fd) == 1), interval_(interval), delay_(delay) {}

void ProgressReporter::Start(std::string_view task) {
  if (!active_) return;
  task_ = task;
  started_ = std::chrono::steady_clock::now();
  last_draw_ = {};
}

void ProgressReporter::Update(uint64_t done, uint64_t total) {
  if (!active_) return;
  auto now = std::chrono::steady_clock::now();
  if (now - started_ < delay_ || now - last_draw_ < interval_) return;
  last_draw_ = now;
  if (total) {
    Draw(fmt::format("memtrace: {}  {:3}%", task_, done >= total ? 100 : done * 100 / total));
  } else {
    Draw(fmt::format("memtrace: {}  {}", task_, done));
  }
}

void ProgressReporter::Finish() {
  if (!drawn_) return;
  Draw("");
  drawn_ = false;
}

void ProgressReporter::Draw(const std::string& line) {
  // \r returns to the line's start, ESC[K erases what a longer previous line left behind.
  std::string text = "\r" + line + "\x1b[K";
  if (line.empty()) text = "\r\x1b[K";
  ssize_t ignored = write(fd_, text.data(), text.size());
  (void)ignored;  // progress is best effort
  drawn_ = !line.empty();
}

}  // namespace memtrace::analyzer

// ProgressReporter draws on a real terminal (a pseudo-terminal here) and on nothing else.
#include "analyzer/progress.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <pty.h>
#include <unistd.h>

#include <string>

namespace memtrace::analyzer {
namespace {

using std::chrono::milliseconds;

std::string ReadAvailable(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  std::string text;
  char buffer[4096];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  return text;
}

TEST(ProgressReporterTest, DrawsAndErasesOnATerminal) {
  int controller = -1, terminal = -1;
  ASSERT_EQ(openpty(&controller, &terminal, nullptr, nullptr, nullptr), 0);
  {
    ProgressReporter progress(terminal, milliseconds(0), milliseconds(0));
    ASSERT_TRUE(progress.active());
    progress.Start("reading t.mtr");
    progress.Update(42, 100);
    progress.Finish();
  }
  std::string shown = ReadAvailable(controller);
  EXPECT_NE(shown.find("\rmemtrace: reading t.mtr   42%"), std::string::npos) << shown;
  EXPECT_EQ(shown.substr(shown.size() - 4), "\r\x1b[K") << "the line is not erased at the end";
  close(controller);
  close(terminal);
}

TEST(ProgressReporterTest, IsRateLimited) {
  int controller = -1, terminal = -1;
  ASSERT_EQ(openpty(&controller, &terminal, nullptr, nullptr, nullptr), 0);
  {
    ProgressReporter progress(terminal, milliseconds(60'000), milliseconds(0));
    progress.Start("x");
    for (int i = 0; i < 1000; ++i) progress.Update(i, 1000);
  }
  std::string shown = ReadAvailable(controller);
  EXPECT_EQ(shown.find("memtrace: x"), shown.rfind("memtrace: x")) << "drawn more than once: " << shown;
  close(controller);
  close(terminal);
}

TEST(ProgressReporterTest, SilentOnAPipe) {
  int pipe_fds[2];
  ASSERT_EQ(pipe(pipe_fds), 0);
  {
    ProgressReporter progress(pipe_fds[1], milliseconds(0), milliseconds(0));
    EXPECT_FALSE(progress.active());
    progress.Start("reading");
    progress.Update(1, 2);
    progress.Finish();
  }
  close(pipe_fds[1]);
  char byte;
  EXPECT_EQ(read(pipe_fds[0], &byte, 1), 0) << "something was written to a pipe";
  close(pipe_fds[0]);
}

TEST(ProgressReporterTest, NothingForWorkShorterThanTheDelay) {
  int controller = -1, terminal = -1;
  ASSERT_EQ(openpty(&controller, &terminal, nullptr, nullptr, nullptr), 0);
  {
    ProgressReporter progress(terminal, milliseconds(0), milliseconds(60'000));
    progress.Start("quick");
    progress.Update(1, 2);
  }
  EXPECT_EQ(ReadAvailable(controller), "");
  close(controller);
  close(terminal);
}

}  // namespace
}  // namespace memtrace::analyzer

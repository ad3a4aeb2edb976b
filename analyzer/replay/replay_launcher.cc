#include "analyzer/replay/replay_launcher.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <sstream>

extern char** environ;

namespace memtrace::replay {

namespace {

// Settings that would change the replay's allocator: dropped from the inherited environment.
bool ChangesMalloc(const char* entry) {
  return strncmp(entry, "LD_PRELOAD=", 11) == 0 || strncmp(entry, "MEMTRACE_", 9) == 0 ||
         strncmp(entry, "GLIBC_TUNABLES=", 15) == 0 || strncmp(entry, "MALLOC_", 7) == 0;
}

std::string RealPath(const std::string& path) {
  char resolved[PATH_MAX];
  return realpath(path.c_str(), resolved) ? resolved : path;
}

std::string FirstLine(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  std::getline(in, line);
  return line;
}

void Parse(const std::string& line, ReplayMeasurement* out) {
  size_t at = line.find(" allocator=");
  if (at != std::string::npos) {
    out->malloc_library = line.substr(at + 11);
    while (!out->malloc_library.empty() && out->malloc_library.back() == '\n') out->malloc_library.pop_back();
  }
  std::istringstream words(line.substr(0, at));
  std::string word;
  while (words >> word) {
    size_t eq = word.find('=');
    if (eq != std::string::npos)
      out->values[word.substr(0, eq)] = strtoll(word.c_str() + eq + 1, nullptr, 10);
  }
}

}  // namespace

int64_t ReplayMeasurement::Get(const std::string& key) const {
  auto it = values.find(key);
  return it == values.end() ? -1 : it->second;
}

std::string ReplayerPath() {
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "memtrace-replay";
  std::string path(self, static_cast<size_t>(n));
  return path.substr(0, path.rfind('/') + 1) + "memtrace-replay";
}

bool LaunchReplay(const std::string& replayer, const std::string& ops, const AllocatorChoice& allocator,
                  const std::vector<std::string>& environment, bool touch, const std::string& scratch_dir,
                  ReplayMeasurement* out, std::string* error) {
  std::vector<std::string> env;
  for (char** entry = environ; entry && *entry; ++entry) {
    if (!ChangesMalloc(*entry)) env.emplace_back(*entry);
  }
  env.insert(env.end(), environment.begin(), environment.end());
  if (!allocator.library.empty()) env.push_back("LD_PRELOAD=" + allocator.library);
  std::vector<char*> envp;
  for (std::string& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = {replayer, ops};
  if (!touch) args.emplace_back("--no-touch");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  std::string output_path = scratch_dir + "/replay.out";
  std::string errors_path = scratch_dir + "/replay.err";
  pid_t child = fork();
  if (child < 0) {
    *error = std::string("cannot start the replay: ") + strerror(errno);
    return false;
  }
  if (child == 0) {
    int output = open(output_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    int errors = open(errors_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (output < 0 || errors < 0 || dup2(output, 1) < 0 || dup2(errors, 2) < 0) _exit(127);
    execve(replayer.c_str(), argv.data(), envp.data());
    dprintf(2, "memtrace: error: cannot run %s: %s\n", replayer.c_str(), strerror(errno));
    _exit(127);
  }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  std::string complaint = FirstLine(errors_path);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    *error = allocator.name + ": the replay failed (" +
             (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                  : "exit status " + std::to_string(WEXITSTATUS(status))) +
             ")" + (complaint.empty() ? "" : ": " + complaint);
    return false;
  }
  out->allocator = allocator;
  Parse(FirstLine(output_path), out);
  if (out->values.empty()) {
    *error = allocator.name + ": the replay printed no measurements";
    return false;
  }
  if (!allocator.library.empty() && RealPath(out->malloc_library) != RealPath(allocator.library)) {
    *error = allocator.name + ": not loaded, malloc resolved to " + out->malloc_library +
             (complaint.empty() ? "" : " (" + complaint + ")");
    return false;
  }
  return true;
}

}  // namespace memtrace::replay

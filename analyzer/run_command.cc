#include "analyzer/run_command.h"

#include <elf.h>
#include <fcntl.h>
#include <fmt/core.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <fstream>

#include "analyzer/leak_classes.h"
#include "analyzer/leak_report.h"
#include "analyzer/trace_pass.h"
#include "analyzer/trace_summary.h"
#include "format/trace_appender.h"
#include "format/trace_packer.h"

namespace memtrace::analyzer {

namespace {

// How a child's trace relates to the others, from its header: "pid 123 (make -j2), child of pid 100"
// or ", exec'd by pid 123 after vfork" (parent_trace names the trace it continues or came from).
std::string DescribeChildTrace(const std::string& path) {
  std::string error;
  auto reader = format::TraceReader::Open(path, &error);
  if (!reader) return "unreadable: " + error;
  const format::FileHeader& h = reader->header();
  std::string text = fmt::format("pid {} ({})", h.pid, h.command_line[0] ? h.command_line : h.program);
  if (!h.parent_trace[0]) return text;
  if (h.parent_pid == h.pid) {
    // The image before this exec: its own trace, or (a vfork child) its parent's, where its calls
    // before the exec are.
    return text + fmt::format(", exec'd; continues pid {} in {}", h.parent_pid, h.parent_trace);
  }
  return text + fmt::format(", child of pid {} ({})", h.parent_pid, h.parent_trace);
}

bool IsExecutableFile(const std::string& path) {
  struct stat st {};
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(path.c_str(), X_OK) == 0;
}

// execvp's search, done up front so a missing program is reported before anything runs.
std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return IsExecutableFile(name) ? name : "";
  const char* path = getenv("PATH");
  std::string dirs = path ? path : "/usr/local/bin:/usr/bin:/bin";
  size_t start = 0;
  while (start <= dirs.size()) {
    size_t end = dirs.find(':', start);
    if (end == std::string::npos) end = dirs.size();
    std::string dir = dirs.substr(start, end - start);
    std::string candidate = (dir.empty() ? "." : dir) + "/" + name;
    if (IsExecutableFile(candidate)) return candidate;
    start = end + 1;
  }
  return "";
}

std::string LibraryPath() {
  if (const char* explicit_path = getenv("MEMTRACE_LIBRARY"); explicit_path && *explicit_path)
    return explicit_path;
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) return "";
  self[n] = 0;
  std::string dir(self);
  dir.resize(dir.rfind('/'));
  return dir + "/../lib/libmemtrace.so";
}

std::string AbsolutePath(const std::string& path) {
  if (path.empty() || path[0] == '/') return path;
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

int ExitCodeOf(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

// A process killed by a signal could not say so in its trace; its parent can.
void RecordFatalSignal(const std::string& trace, int signal) {
  struct Ended : EventConsumer {
    bool ended = false;
    void Apply(const format::Event& e) override {
      ended = ended || e.kind == format::RecordKind::kProcessEnd;
    }
  } check;
  TraceInfo info;
  if (!ReadTrace(trace, {&check}, &info) || check.ended) return;
  format::Record record;
  record.kind = format::RecordKind::kProcessEnd;
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  record.timestamp = static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
  record.param = static_cast<int64_t>(format::EndReason::kSignal);
  record.result = signal;
  std::string error;
  if (!format::AppendRecordToTrace(trace, info.header.pid, record, &error)) {
    fmt::print(stderr, "memtrace: warning: could not note the fatal signal in the trace: {}\n", error);
  }
}

// A traced process that outlived `run` (a daemonized child) still writes into its raw trace through
// its mapping; a packed copy would miss the rest, so its trace stays raw.
bool WriterAlive(const std::string& trace) {
  std::string error;
  std::unique_ptr<format::TraceReader> reader = format::TraceReader::Open(trace, &error);
  if (!reader) return false;
  const pid_t pid = static_cast<pid_t>(reader->header().pid);
  return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}

// Packs each trace in place; a failure leaves that trace raw and says why.
void PackTraces(const std::vector<std::string>& traces, bool quiet) {
  uint64_t raw = 0, packed = 0, count = 0;
  for (const std::string& trace : traces) {
    if (WriterAlive(trace)) {
      fmt::print(stderr, "memtrace: {}: its process is still running; left raw (memtrace pack it later)\n",
                 trace);
      continue;
    }
    format::PackStats stats;
    bool already_packed = false;
    std::string error;
    if (!format::PackTraceFile(trace, trace, format::kDefaultPackLevel, &stats, &already_packed, &error)) {
      if (!already_packed) fmt::print(stderr, "memtrace: warning: trace left raw: {}\n", error);
      continue;
    }
    raw += stats.raw_bytes;
    packed += stats.packed_bytes;
    ++count;
  }
  if (!quiet && count) {
    fmt::print(stderr, "  packed     {} trace{}: {} -> {} bytes\n", count, count == 1 ? "" : "s", raw,
               packed);
  }
}

}  // namespace

std::string PreloadObstacle(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return "";
  if (((st.st_mode & S_ISUID) && st.st_uid != geteuid()) ||
      ((st.st_mode & S_ISGID) && st.st_gid != getegid())) {
    return "it is setuid/setgid, and the loader ignores LD_PRELOAD for such programs; run a copy without "
           "the setuid bit, or run memtrace as the owning user";
  }
  if (getxattr(path.c_str(), "security.capability", nullptr, 0) > 0) {
    return "it has file capabilities, and the loader ignores LD_PRELOAD for such programs; run a copy "
           "without them";
  }
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "";
  Elf64_Ehdr ehdr{};
  ssize_t n = pread(fd, &ehdr, sizeof ehdr, 0);
  std::string obstacle;
  if (n >= 2 && std::memcmp(&ehdr, "#!", 2) == 0) {
    // A script: what matters is its interpreter.
    char line[256] = {};
    ssize_t got = pread(fd, line, sizeof line - 1, 2);
    std::string interpreter(line, got > 0 ? static_cast<size_t>(got) : 0);
    interpreter = interpreter.substr(0, interpreter.find_first_of("\n"));
    size_t begin = interpreter.find_first_not_of(" \t");
    if (begin != std::string::npos) {
      interpreter = interpreter.substr(begin, interpreter.find_first_of(" \t", begin) - begin);
      std::string inner = PreloadObstacle(interpreter);
      if (!inner.empty()) obstacle = "its interpreter " + interpreter + ": " + inner;
    }
  } else if (n == static_cast<ssize_t>(sizeof ehdr) && std::memcmp(ehdr.e_ident, ELFMAG, SELFMAG) == 0 &&
             ehdr.e_ident[EI_CLASS] == ELFCLASS64) {
    bool has_interpreter = false;
    for (unsigned i = 0; i < ehdr.e_phnum; ++i) {
      Elf64_Phdr phdr{};
      if (pread(fd, &phdr, sizeof phdr, static_cast<off_t>(ehdr.e_phoff + i * ehdr.e_phentsize)) !=
          sizeof phdr)
        break;
      if (phdr.p_type == PT_INTERP) has_interpreter = true;
    }
    if (!has_interpreter) {
      obstacle =
          "it is statically linked (no program interpreter), so LD_PRELOAD cannot load memtrace into it; "
          "rebuild it dynamically linked";
    }
  }
  close(fd);
  return obstacle;
}

int RunTraced(const RunOptions& options) {
  if (options.command.empty()) {
    fmt::print(stderr, "memtrace: error: run needs a program: memtrace run [-o FILE] -- PROG ARGS...\n");
    return 2;
  }
  const std::string& name = options.command[0];
  std::string program = FindProgram(name);
  if (program.empty()) {
    fmt::print(stderr, "memtrace: error: {}: no such program (not found{})\n", name,
               name.find('/') == std::string::npos ? " in PATH" : "");
    return 127;
  }
  if (std::string obstacle = PreloadObstacle(program); !obstacle.empty()) {
    fmt::print(stderr, "memtrace: error: cannot trace {}: {}\n", program, obstacle);
    return 2;
  }
  std::string library = LibraryPath();
  if (access(library.c_str(), R_OK) != 0) {
    fmt::print(stderr, "memtrace: error: {} not found; build it, or set MEMTRACE_LIBRARY to its path\n",
               library);
    return 2;
  }
  char manifest[] = "/tmp/memtrace-run-XXXXXX";
  int manifest_fd = mkstemp(manifest);
  if (manifest_fd < 0) {
    fmt::print(stderr, "memtrace: error: cannot create a temporary file in /tmp: {}\n", std::strerror(errno));
    return 2;
  }
  close(manifest_fd);
  std::string output = AbsolutePath(options.output);
  if (!output.empty()) unlink(output.c_str());  // -o names the file to write, replacing an old one

  pid_t child = fork();
  if (child < 0) {
    fmt::print(stderr, "memtrace: error: fork failed: {}\n", std::strerror(errno));
    unlink(manifest);
    return 2;
  }
  if (child == 0) {
    const char* preload = getenv("LD_PRELOAD");
    std::string value = library + (preload && *preload ? std::string(":") + preload : "");
    setenv("LD_PRELOAD", value.c_str(), 1);
    setenv("MEMTRACE_MANIFEST", manifest, 1);
    if (!output.empty()) setenv("MEMTRACE_OUTPUT", output.c_str(), 1);
    if (!options.stacks) setenv("MEMTRACE_STACKS", "0", 1);
    std::vector<char*> argv;
    for (const auto& arg : options.command) argv.push_back(const_cast<char*>(arg.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    fmt::print(stderr, "memtrace: error: cannot run {}: {}\n", program, std::strerror(errno));
    _exit(127);
  }
  // Like system(): the terminal's ^C and ^\ are for the program; we wait for it to finish.
  struct sigaction ignore {
  }, old_int{}, old_quit{};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGINT, &ignore, &old_int);
  sigaction(SIGQUIT, &ignore, &old_quit);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGQUIT, &old_quit, nullptr);
  int exit_code = ExitCodeOf(status);

  std::vector<std::string> traces;
  std::ifstream lines(manifest);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) traces.push_back(line);
  }
  unlink(manifest);
  if (traces.empty()) {
    fmt::print(stderr,
               "memtrace: error: {} exited without writing a trace (it may have cleared LD_PRELOAD)\n",
               program);
    return exit_code ? exit_code : 2;
  }
  if (WIFSIGNALED(status)) RecordFatalSignal(traces.front(), WTERMSIG(status));
  TraceSummary summary;
  LeakClasses classes;
  TraceInfo info;
  if (ReadTrace(traces.front(), {&summary, &classes}, &info)) {
    LeakAnalysis leaks = AnalyzeLeaks(summary.heap(), classes);
    const LeakAnalysis* scanned = classes.scanned() ? &leaks : nullptr;
    if (options.json) {
      PrintSummaryJson(stderr, info, summary, scanned);
    } else {
      fmt::print(stderr, "\n");
      PrintSummaryText(stderr, info, summary, scanned);
    }
  }
  if (traces.size() > 1 && !options.json) {
    fmt::print(stderr, "  children   {} more traces from child processes:\n", traces.size() - 1);
    for (size_t i = 1; i < traces.size(); ++i) {
      fmt::print(stderr, "             {}: {}\n", traces[i], DescribeChildTrace(traces[i]));
    }
  }
  if (options.pack) PackTraces(traces, options.json);
  return exit_code;
}

}  // namespace memtrace::analyzer

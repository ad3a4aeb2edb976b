// `memtrace run -- PROG ARGS`: runs a program under libmemtrace.so, keeps its output and exit code,
// and prints a short summary of its trace on stderr afterwards.
#pragma once

#include <string>
#include <vector>

namespace memtrace::analyzer {

struct RunOptions {
  std::string output;  // trace path for the top process; empty: memtrace.PROGRAM.PID.mtr in the cwd
  bool stacks = true;
  bool json = false;  // print the closing summary as JSON
  bool pack = true;   // pack every trace the run produced once the program has ended
  std::vector<std::string> command;
};

// Returns the program's exit code (128 + signal if it was killed), or 127/2 with one error line when
// it could not be run traced.
int RunTraced(const RunOptions& options);

// Why LD_PRELOAD cannot work for `path` (static binary, setuid, ...), or empty if it can.
std::string PreloadObstacle(const std::string& path);

}  // namespace memtrace::analyzer

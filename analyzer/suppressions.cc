#include "analyzer/suppressions.h"

#include <algorithm>
#include <fstream>

namespace memtrace::analyzer {

namespace {

// Glob match with `*` only, iterative with backtracking to the last star.
bool GlobMatches(const char* pattern, const char* text) {
  const char* star = nullptr;
  const char* resume = nullptr;
  while (*text) {
    if (*pattern == '*') {
      star = pattern++;
      resume = text;
    } else if (*pattern == *text) {
      ++pattern;
      ++text;
    } else if (star) {
      pattern = star + 1;
      text = ++resume;
    } else {
      return false;
    }
  }
  while (*pattern == '*') ++pattern;
  return *pattern == 0;
}

}  // namespace

bool PatternMatches(const std::string& pattern, const std::string& text) {
  if (pattern.find('*') == std::string::npos) return text.find(pattern) != std::string::npos;
  return GlobMatches(pattern.c_str(), text.c_str());
}

Suppressions Suppressions::BuiltIn() {
  Suppressions builtin;
  builtin.Add("_IO_file_doallocate");  // stdio buffers, freed only by __libc_freeres
  builtin.eh_pool_ = true;
  return builtin;
}

bool Suppressions::AddFile(const std::string& path, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = path + ": cannot read the suppressions file";
    return false;
  }
  int number = 0;
  for (std::string line; std::getline(in, line);) {
    ++number;
    line.erase(0, line.find_first_not_of(" \t"));
    line.erase(line.find_last_not_of(" \t\r") + 1);
    if (line.empty() || line[0] == '#') continue;
    if (line.rfind("leak:", 0) != 0 || line.size() == 5) {
      *error = path + ":" + std::to_string(number) + ": expected leak:PATTERN, got '" + line + "'";
      return false;
    }
    Add(line.substr(5));
  }
  return true;
}

bool Suppressions::Matches(const std::vector<SymbolizedFrame>& frames) const {
  // libstdc++'s exception emergency pool: allocated by libstdc++'s own start-up code, run by the
  // loader (freed only by __gnu_cxx::__freeres, which valgrind calls and a native exit does not).
  if (eh_pool_ && !frames.empty() && frames.front().module.find("/libstdc++.so") != std::string::npos &&
      std::any_of(frames.begin(), frames.end(),
                  [](const SymbolizedFrame& f) { return f.function == "_dl_init"; })) {
    return true;
  }
  for (const std::string& pattern : patterns_) {
    for (const SymbolizedFrame& frame : frames) {
      if ((!frame.function.empty() && PatternMatches(pattern, frame.function)) ||
          (!frame.file.empty() && PatternMatches(pattern, frame.file)) ||
          (!frame.module.empty() && PatternMatches(pattern, frame.module))) {
        return true;
      }
    }
  }
  return false;
}

void ApplySuppressions(const Suppressions& suppressions, const StackStore& stacks, Symbolizer& symbolizer,
                       LeakAnalysis* leaks) {
  auto suppressed = [&](const LeakGroup& group) {
    if (!group.stack_id || !suppressions.Matches(SymbolizeStack(symbolizer, stacks.Frames(group.stack_id)))) {
      return false;
    }
    LeakTotals& totals = leaks->Totals(group.leak_class);
    totals.bytes -= group.bytes;
    totals.blocks -= group.blocks;
    leaks->suppressed.bytes += group.bytes;
    leaks->suppressed.blocks += group.blocks;
    return true;
  };
  leaks->groups.erase(std::remove_if(leaks->groups.begin(), leaks->groups.end(), suppressed),
                      leaks->groups.end());
}

}  // namespace memtrace::analyzer

// Leak suppressions: stack patterns that hide known, harmless leaks from `memtrace leaks`, in
// LeakSanitizer's file format (one `leak:PATTERN` per line, `#` comments). A pattern matches a group
// when it matches the function, source file or module of any frame of its allocation stack; `*`
// matches any run of characters, and a pattern without `*` matches as a substring.
//
// Built in: what every glibc/libstdc++ program leaves allocated by design and valgrind hides by
// freeing it at exit (__libc_freeres, __gnu_cxx::__freeres): libstdc++'s exception emergency pool and
// stdio buffers.
#pragma once

#include <string>
#include <vector>

#include "analyzer/leak_report.h"
#include "analyzer/stack_store.h"
#include "analyzer/symbolizer.h"

namespace memtrace::analyzer {

class Suppressions {
 public:
  static Suppressions BuiltIn();
  // Adds the patterns of `path`; false with *error (naming the file and line) if it cannot be read or
  // a line is not `leak:PATTERN`.
  bool AddFile(const std::string& path, std::string* error);
  void Add(const std::string& pattern) { patterns_.push_back(pattern); }

  bool Matches(const std::vector<SymbolizedFrame>& frames) const;

 private:
  std::vector<std::string> patterns_;
  bool eh_pool_ = false;  // the built-in rule for libstdc++'s emergency pool
};

// Moves the groups a suppression matches out of `leaks` (out of its groups and class totals) into
// leaks->suppressed.
void ApplySuppressions(const Suppressions& suppressions, const StackStore& stacks, Symbolizer& symbolizer,
                       LeakAnalysis* leaks);

// True if `text` matches `pattern` (`*` wildcards; no `*`: substring).
bool PatternMatches(const std::string& pattern, const std::string& text);

}  // namespace memtrace::analyzer

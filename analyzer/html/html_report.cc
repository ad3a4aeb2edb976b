#include "analyzer/html/html_report.h"

#include <fmt/core.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "analyzer/html/report_data.h"
#include "analyzer/html/report_template.h"

namespace memtrace::analyzer {

namespace {

constexpr std::string_view kDataPlaceholder = "__MEMTRACE_REPORT_DATA__";

// The data document as text safe inside <script>: '<' appears only in JSON strings, where \u003c
// means the same, so no "</script>" or "<!--" can end the element early.
std::string ScriptSafeData(const TraceInfo& info, const MemoryProfile& profile, const LeakAnalysis& leaks,
                           bool scanned, const StackStore& stacks, Symbolizer& symbolizer) {
  char* buffer = nullptr;
  size_t size = 0;
  std::FILE* memory = open_memstream(&buffer, &size);
  if (!memory) return {};
  WriteReportData(memory, info, profile, leaks, scanned, stacks, symbolizer);
  std::fclose(memory);
  std::string safe;
  safe.reserve(size + size / 16);
  for (size_t i = 0; i < size; ++i) {
    if (buffer[i] == '<') {
      safe += "\\u003c";
    } else {
      safe += buffer[i];
    }
  }
  std::free(buffer);
  return safe;
}

}  // namespace

bool WriteHtmlReport(const std::string& path, const TraceInfo& info, const MemoryProfile& profile,
                     const LeakAnalysis& leaks, bool scanned, const StackStore& stacks,
                     Symbolizer& symbolizer, std::string* error) {
  std::string_view page = kReportTemplate;
  size_t at = page.find(kDataPlaceholder);
  if (at == std::string_view::npos) {
    *error = "the embedded report template has no data placeholder";
    return false;
  }
  std::string data = ScriptSafeData(info, profile, leaks, scanned, stacks, symbolizer);
  if (data.empty()) {
    *error = "out of memory while building the report";
    return false;
  }
  std::FILE* out = std::fopen(path.c_str(), "w");
  if (!out) {
    *error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  std::string_view before = page.substr(0, at);
  std::string_view after = page.substr(at + kDataPlaceholder.size());
  std::fwrite(before.data(), 1, before.size(), out);
  std::fwrite(data.data(), 1, data.size(), out);
  std::fwrite(after.data(), 1, after.size(), out);
  if (std::ferror(out) | (std::fclose(out) != 0)) {
    *error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  return true;
}

}  // namespace memtrace::analyzer

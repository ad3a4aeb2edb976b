// The file an exporter writes: a path or "-" for stdout; write errors are reported once, at Close.
#pragma once

#include <cstdio>
#include <string>

namespace memtrace::analyzer {

class OutputFile {
 public:
  // Opens `path` for writing; on failure prints one error line and get() is null.
  explicit OutputFile(const std::string& path);
  ~OutputFile();
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;

  std::FILE* get() const { return file_; }
  // Flushes and closes; prints one error line and returns false if anything failed to be written.
  bool Close();

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace memtrace::analyzer

#include "analyzer/export/output_file.h"

#include <fmt/core.h>

#include <cerrno>
#include <cstring>

namespace memtrace::analyzer {

OutputFile::OutputFile(const std::string& path) : path_(path) {
  file_ = path == "-" ? stdout : std::fopen(path.c_str(), "wb");
  if (!file_) fmt::print(stderr, "memtrace: error: {}: cannot write: {}\n", path, std::strerror(errno));
}

OutputFile::~OutputFile() {
  if (file_ && file_ != stdout) std::fclose(file_);
}

bool OutputFile::Close() {
  if (!file_) return false;
  bool failed = std::ferror(file_) != 0;
  int error = errno;
  if (std::fflush(file_) != 0) {
    failed = true;
    error = errno;
  }
  if (file_ != stdout && std::fclose(file_) != 0 && !failed) {
    failed = true;
    error = errno;
  }
  file_ = nullptr;
  if (failed) fmt::print(stderr, "memtrace: error: {}: write failed: {}\n", path_, std::strerror(error));
  return !failed;
}

}  // namespace memtrace::analyzer

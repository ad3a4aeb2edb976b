#include "analyzer/json_writer.h"

#include <cinttypes>
#include <cmath>

namespace memtrace::analyzer {

std::string JsonWriter::Escape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  out += '"';
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buffer[8];
          std::snprintf(buffer, sizeof buffer, "\\u%04x", c);
          out += buffer;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return out;
}

void JsonWriter::Key(std::string_view key) {
  if (!first_.empty()) {
    if (!first_.back()) std::fputc(',', out_);
    first_.back() = false;
  }
  if (!key.empty()) {
    std::string escaped = Escape(key);
    std::fwrite(escaped.data(), 1, escaped.size(), out_);
    std::fputc(':', out_);
  }
}

JsonWriter& JsonWriter::BeginObject(std::string_view key) {
  Key(key);
  std::fputc('{', out_);
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::EndObject() {
  first_.pop_back();
  std::fputc('}', out_);
  return *this;
}

JsonWriter& JsonWriter::BeginArray(std::string_view key) {
  Key(key);
  std::fputc('[', out_);
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  first_.pop_back();
  std::fputc(']', out_);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, std::string_view value) {
  Key(key);
  std::string escaped = Escape(value);
  std::fwrite(escaped.data(), 1, escaped.size(), out_);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, uint64_t value) {
  Key(key);
  std::fprintf(out_, "%" PRIu64, value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, int64_t value) {
  Key(key);
  std::fprintf(out_, "%" PRId64, value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, double value) {
  Key(key);
  if (std::isfinite(value)) {
    std::fprintf(out_, "%.6g", value);
  } else {
    std::fputs("null", out_);
  }
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, bool value) {
  Key(key);
  std::fputs(value ? "true" : "false", out_);
  return *this;
}

JsonWriter& JsonWriter::Null(std::string_view key) {
  Key(key);
  std::fputs("null", out_);
  return *this;
}

}  // namespace memtrace::analyzer

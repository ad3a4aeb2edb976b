// A small streaming JSON writer: objects and arrays are opened and closed in order and values are
// written as they come, so reports of any length never build a document in memory.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

namespace memtrace::analyzer {

class JsonWriter {
 public:
  explicit JsonWriter(std::FILE* out) : out_(out) {}
  ~JsonWriter() { std::fputc('\n', out_); }

  JsonWriter& BeginObject(std::string_view key = {});
  JsonWriter& EndObject();
  JsonWriter& BeginArray(std::string_view key = {});
  JsonWriter& EndArray();

  JsonWriter& Field(std::string_view key, std::string_view value);
  JsonWriter& Field(std::string_view key, const char* value) { return Field(key, std::string_view(value)); }
  JsonWriter& Field(std::string_view key, const std::string& value) {
    return Field(key, std::string_view(value));
  }
  JsonWriter& Field(std::string_view key, uint64_t value);
  JsonWriter& Field(std::string_view key, int64_t value);
  JsonWriter& Field(std::string_view key, int value) { return Field(key, static_cast<int64_t>(value)); }
  JsonWriter& Field(std::string_view key, uint32_t value) { return Field(key, static_cast<uint64_t>(value)); }
  JsonWriter& Field(std::string_view key, double value);
  JsonWriter& Field(std::string_view key, bool value);
  JsonWriter& Null(std::string_view key);

  static std::string Escape(std::string_view text);

 private:
  void Key(std::string_view key);
  std::FILE* out_;
  std::vector<bool> first_;  // per open container: nothing written in it yet
};

}  // namespace memtrace::analyzer

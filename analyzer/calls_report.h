// `memtrace calls`: every recorded call on one line (or one JSON object), in merged time order,
// streamed as the trace is read.
#pragma once

#include <cstdio>
#include <memory>

#include "analyzer/json_writer.h"
#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

class CallsReport : public EventConsumer {
 public:
  CallsReport(std::FILE* out, bool json) : out_(out), json_(json) {}
  ~CallsReport() override;
  void Begin(const TraceInfo& info) override;
  void Apply(const format::Event& e) override;

 private:
  void PrintText(const format::Event& e);
  void PrintJson(const format::Event& e);
  std::FILE* out_;
  bool json_;
  uint64_t start_ = 0;
  std::unique_ptr<JsonWriter> writer_;
};

}  // namespace memtrace::analyzer

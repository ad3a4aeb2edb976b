// pprof's profile.proto (github.com/google/pprof/blob/main/proto/profile.proto), written by hand and
// gzipped. One sample per allocation site with four values: alloc_objects, alloc_space (everything
// allocated over the trace) and inuse_objects, inuse_space (what was still live at its end). Each
// return address is one Location; inlined calls at it are its Lines, innermost first, as pprof wants.
#include <absl/container/flat_hash_map.h>
#include <fmt/core.h>

#include <algorithm>

#include "analyzer/export/exporters.h"
#include "analyzer/export/gzip.h"
#include "analyzer/export/output_file.h"
#include "analyzer/export/protobuf_encoder.h"
#include "analyzer/export/site_frames.h"

namespace memtrace::analyzer {

namespace {

// Field numbers of profile.proto.
namespace profile {
constexpr uint32_t kSampleType = 1, kSample = 2, kMapping = 3, kLocation = 4, kFunction = 5, kStringTable = 6,
                   kTimeNanos = 9, kDurationNanos = 10, kPeriodType = 11, kPeriod = 12, kComment = 13,
                   kDefaultSampleType = 14;
}
namespace value_type {
constexpr uint32_t kType = 1, kUnit = 2;
}
namespace sample {
constexpr uint32_t kLocationId = 1, kValue = 2;
}
namespace mapping {
constexpr uint32_t kId = 1, kMemoryStart = 2, kMemoryLimit = 3, kFilename = 5, kBuildId = 6,
                   kHasFunctions = 7, kHasFilenames = 8, kHasLineNumbers = 9, kHasInlineFrames = 10;
}
namespace location {
constexpr uint32_t kId = 1, kMappingId = 2, kAddress = 3, kLine = 4;
}
namespace line {
constexpr uint32_t kFunctionId = 1, kLine = 2;
}
namespace function {
constexpr uint32_t kId = 1, kName = 2, kSystemName = 3, kFilename = 4;
}

class ProfileBuilder {
 public:
  ProfileBuilder(const StackStore& stacks, Symbolizer& symbolizer)
      : stacks_(stacks), symbolizer_(symbolizer) {
    String("");  // index 0 must be the empty string
    for (const Module& module : stacks.modules()) AddMapping(module);
  }

  void AddSample(const SiteNumbers& site) {
    std::vector<uint64_t> location_ids;
    const std::vector<uint64_t>& addresses = site.stack_id ? stacks_.Frames(site.stack_id) : kNoFrames;
    for (uint64_t address : addresses) location_ids.push_back(LocationAt(address));
    if (location_ids.empty())
      location_ids.push_back(PseudoLocation(SiteFrames(site, stacks_, symbolizer_)[0].function));
    ProtobufEncoder message;
    message.PackedVarints(sample::kLocationId, location_ids);
    message.PackedVarints(sample::kValue, {site.calls, site.bytes, site.live_blocks, site.live_bytes});
    profile_.Message(profile::kSample, message);
  }

  // The finished profile; `profile_` holds samples, the rest is appended here.
  std::string Finish(const TraceInfo& info) {
    ProtobufEncoder head;
    for (auto [type, unit] : {std::pair{"alloc_objects", "count"},
                              {"alloc_space", "bytes"},
                              {"inuse_objects", "count"},
                              {"inuse_space", "bytes"}}) {
      head.Message(profile::kSampleType, ValueType(type, unit));
    }
    std::string body = head.data() + profile_.data() + tables_.data();
    ProtobufEncoder tail;
    tail.Varint(profile::kTimeNanos, info.header.start_realtime_ns);
    uint64_t end = std::max(info.last_timestamp, info.header.start_monotonic_ns);
    tail.Varint(profile::kDurationNanos, end - info.header.start_monotonic_ns);
    tail.Message(profile::kPeriodType, ValueType("space", "bytes"));
    tail.Varint(profile::kPeriod, 1);
    const char* command = info.header.command_line[0] ? info.header.command_line : info.header.program;
    tail.Varint(profile::kComment, String(fmt::format("memtrace: {} (pid {})", command, info.header.pid)));
    tail.Varint(profile::kDefaultSampleType, String("inuse_space"));
    body += tail.data();
    // The string table last: every index above has been taken by now.
    ProtobufEncoder strings;
    for (const std::string& text : strings_) strings.Bytes(profile::kStringTable, text);
    return body + strings.data();
  }

 private:
  inline static const std::vector<uint64_t> kNoFrames;

  uint64_t String(const std::string& text) {
    auto [it, inserted] = string_ids_.try_emplace(text, strings_.size());
    if (inserted) strings_.push_back(text);
    return it->second;
  }

  ProtobufEncoder ValueType(const char* type, const char* unit) {
    ProtobufEncoder message;
    message.Varint(value_type::kType, String(type));
    message.Varint(value_type::kUnit, String(unit));
    return message;
  }

  void AddMapping(const Module& module) {
    ProtobufEncoder message;
    uint64_t id = mapping_ranges_.size() + 1;
    message.Varint(mapping::kId, id);
    message.Varint(mapping::kMemoryStart, module.base);
    message.Varint(mapping::kMemoryLimit, module.base + module.size);
    message.Varint(mapping::kFilename, String(module.path));
    std::string build_id;
    for (unsigned char byte : module.build_id) build_id += fmt::format("{:02x}", byte);
    if (!build_id.empty()) message.Varint(mapping::kBuildId, String(build_id));
    // Every location carries its symbols already: pprof must not look for the binaries itself.
    for (uint32_t field : {mapping::kHasFunctions, mapping::kHasFilenames, mapping::kHasLineNumbers,
                           mapping::kHasInlineFrames}) {
      message.Varint(field, 1);
    }
    tables_.Message(profile::kMapping, message);
    mapping_ranges_.push_back({module.base, module.base + module.size});
  }

  uint64_t MappingAt(uint64_t address) const {
    for (size_t i = 0; i < mapping_ranges_.size(); ++i) {
      if (address >= mapping_ranges_[i].first && address < mapping_ranges_[i].second) return i + 1;
    }
    return 0;
  }

  uint64_t FunctionOf(const std::string& name, const std::string& file) {
    auto [it, inserted] = function_ids_.try_emplace(std::pair{name, file}, function_ids_.size() + 1);
    if (inserted) {
      ProtobufEncoder message;
      message.Varint(function::kId, it->second);
      message.Varint(function::kName, String(name));
      message.Varint(function::kSystemName, String(name));
      if (!file.empty()) message.Varint(function::kFilename, String(file));
      tables_.Message(profile::kFunction, message);
    }
    return it->second;
  }

  uint64_t LocationAt(uint64_t address) {
    auto [it, inserted] = location_ids_.try_emplace(address, next_location_id_);
    if (!inserted) return it->second;
    ++next_location_id_;
    ProtobufEncoder message;
    message.Varint(location::kId, it->second);
    if (uint64_t mapping_id = MappingAt(address)) message.Varint(location::kMappingId, mapping_id);
    message.Varint(location::kAddress, address);
    for (const SymbolizedFrame& frame : symbolizer_.Symbolize(address)) {
      ProtobufEncoder entry;
      entry.Varint(line::kFunctionId, FunctionOf(FrameName(frame), frame.file));
      if (frame.line > 0) entry.Varint(line::kLine, static_cast<uint64_t>(frame.line));
      message.Message(location::kLine, entry);
    }
    tables_.Message(profile::kLocation, message);
    return it->second;
  }

  // A location without an address, for sites recorded without a stack: named after the call.
  uint64_t PseudoLocation(const std::string& name) {
    auto [it, inserted] = pseudo_location_ids_.try_emplace(name, 0);
    if (!inserted) return it->second;
    it->second = next_location_id_++;
    ProtobufEncoder message;
    message.Varint(location::kId, it->second);
    ProtobufEncoder entry;
    entry.Varint(line::kFunctionId, FunctionOf(name, ""));
    message.Message(location::kLine, entry);
    tables_.Message(profile::kLocation, message);
    return it->second;
  }

  const StackStore& stacks_;
  Symbolizer& symbolizer_;
  ProtobufEncoder profile_;  // samples
  ProtobufEncoder tables_;   // mappings, locations, functions
  std::vector<std::string> strings_;
  absl::flat_hash_map<std::string, uint64_t> string_ids_;
  std::vector<std::pair<uint64_t, uint64_t>> mapping_ranges_;
  absl::flat_hash_map<std::pair<std::string, std::string>, uint64_t> function_ids_;
  uint64_t next_location_id_ = 1;
  absl::flat_hash_map<uint64_t, uint64_t> location_ids_;
  absl::flat_hash_map<std::string, uint64_t> pseudo_location_ids_;
};

}  // namespace

bool ExportPprof(const ExportRequest& request) {
  StackStore stacks;
  SiteStatistics sites;
  TraceInfo info;
  if (!ReadTrace(request.trace, {&stacks, &sites}, &info, request.progress)) return false;
  Symbolizer symbolizer(stacks.modules());
  ProfileBuilder builder(stacks, symbolizer);
  std::vector<SiteNumbers> site_list = sites.Sites();
  if (request.progress) request.progress->Start("symbolizing");
  for (size_t i = 0; i < site_list.size(); ++i) {
    builder.AddSample(site_list[i]);
    if (request.progress && i % 256 == 0) request.progress->Update(i, site_list.size());
  }
  if (request.progress) request.progress->Finish();
  std::string compressed;
  if (!Gzip(builder.Finish(info), &compressed)) {
    fmt::print(stderr, "memtrace: error: cannot compress the profile (out of memory)\n");
    return false;
  }
  OutputFile out(request.output);
  if (!out.get()) return false;
  std::fwrite(compressed.data(), 1, compressed.size(), out.get());
  return out.Close();
}

}  // namespace memtrace::analyzer

// Just enough of the protocol buffers wire format to write pprof's profile.proto by hand: varints,
// length-delimited fields (strings, nested messages) and packed repeated varints.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace memtrace::analyzer {

class ProtobufEncoder {
 public:
  // A varint field (int64, uint64, bool). Zero values are written too: callers skip defaults.
  void Varint(uint32_t field, uint64_t value) {
    Tag(field, kVarint);
    Raw(value);
  }
  void Bytes(uint32_t field, std::string_view bytes) {
    Tag(field, kLengthDelimited);
    Raw(bytes.size());
    data_.append(bytes);
  }
  void Message(uint32_t field, const ProtobufEncoder& message) { Bytes(field, message.data_); }
  void PackedVarints(uint32_t field, const std::vector<uint64_t>& values) {
    ProtobufEncoder packed;
    for (uint64_t value : values) packed.Raw(value);
    Bytes(field, packed.data_);
  }

  const std::string& data() const { return data_; }
  void Clear() { data_.clear(); }

 private:
  static constexpr uint32_t kVarint = 0;
  static constexpr uint32_t kLengthDelimited = 2;
  void Tag(uint32_t field, uint32_t wire_type) { Raw(uint64_t{field} << 3 | wire_type); }
  void Raw(uint64_t value) {
    while (value >= 0x80) {
      data_.push_back(static_cast<char>(value | 0x80));
      value >>= 7;
    }
    data_.push_back(static_cast<char>(value));
  }
  std::string data_;
};

}  // namespace memtrace::analyzer

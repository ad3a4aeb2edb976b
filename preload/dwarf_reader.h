// Bounded reading of DWARF-encoded data in .eh_frame and .eh_frame_hdr: LEB128 numbers and the
// DW_EH_PE_* pointer encodings (LSB "Linux Standard Base Core", section 10.5).
//
// The data lives in the mapped image of a loaded module. A reader never reads at or past `end` (the
// end of that module's mapped extent), so a corrupt length or encoding ends the parse instead of
// reading unmapped memory. Header-only and allocation-free: it runs inside hooks.
#pragma once

#include <cstdint>
#include <cstring>

namespace memtrace::preload {

// DW_EH_PE_* pointer encodings: the low nibble is the value's format, bits 4-6 what it is relative
// to, bit 7 an indirection.
enum : uint8_t {
  kPeAbsptr = 0x00,
  kPeUleb128 = 0x01,
  kPeUdata2 = 0x02,
  kPeUdata4 = 0x03,
  kPeUdata8 = 0x04,
  kPeSleb128 = 0x09,
  kPeSdata2 = 0x0a,
  kPeSdata4 = 0x0b,
  kPeSdata8 = 0x0c,
  kPePcrel = 0x10,
  kPeDatarel = 0x30,
  kPeIndirect = 0x80,
  kPeOmit = 0xff,
};

class DwarfReader {
 public:
  DwarfReader(const uint8_t* begin, const uint8_t* end) : p_(begin), end_(end) {}

  bool ok() const { return ok_; }
  const uint8_t* position() const { return p_; }
  const uint8_t* end() const { return end_; }
  uint64_t remaining() const { return ok_ ? static_cast<uint64_t>(end_ - p_) : 0; }

  // Moves to `to`, which must lie within [current position, end].
  void Seek(const uint8_t* to) {
    if (to < p_ || to > end_) ok_ = false;
    if (ok_) p_ = to;
  }
  void Skip(uint64_t bytes) {
    if (bytes > remaining()) ok_ = false;
    if (ok_) p_ += bytes;
  }

  template <typename T>
  T Fixed() {
    T value{};
    if (sizeof(T) > remaining()) {
      ok_ = false;
      return value;
    }
    memcpy(&value, p_, sizeof(T));
    p_ += sizeof(T);
    return value;
  }
  uint8_t U8() { return Fixed<uint8_t>(); }

  uint64_t Uleb128() {
    uint64_t value = 0;
    for (unsigned shift = 0;; shift += 7) {
      if (!remaining() || shift > 63) {
        ok_ = false;
        return 0;
      }
      uint8_t byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
  }

  int64_t Sleb128() {
    uint64_t value = 0;
    unsigned shift = 0;
    uint8_t byte;
    do {
      if (!remaining() || shift > 63) {
        ok_ = false;
        return 0;
      }
      byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      shift += 7;
    } while (byte & 0x80);
    if (shift < 64 && (byte & 0x40)) value |= ~uint64_t{0} << shift;
    return static_cast<int64_t>(value);
  }

  // A pointer in `encoding`. pc-relative values are relative to the encoded field itself,
  // data-relative ones to `data_base` (the .eh_frame_hdr start for its table). Indirect pointers
  // (only personality routines use them) are not followed: the unwinder never needs their target,
  // so reading through them would only add a memory read to validate.
  uint64_t Pointer(uint8_t encoding, uint64_t data_base = 0) {
    if (encoding == kPeOmit) return 0;
    uint64_t field = reinterpret_cast<uint64_t>(p_);
    uint64_t value;
    switch (encoding & 0x0f) {
      case kPeAbsptr: value = Fixed<uint64_t>(); break;
      case kPeUleb128: value = Uleb128(); break;
      case kPeUdata2: value = Fixed<uint16_t>(); break;
      case kPeUdata4: value = Fixed<uint32_t>(); break;
      case kPeUdata8: value = Fixed<uint64_t>(); break;
      case kPeSleb128: value = static_cast<uint64_t>(Sleb128()); break;
      case kPeSdata2: value = static_cast<uint64_t>(static_cast<int64_t>(Fixed<int16_t>())); break;
      case kPeSdata4: value = static_cast<uint64_t>(static_cast<int64_t>(Fixed<int32_t>())); break;
      case kPeSdata8: value = Fixed<uint64_t>(); break;
      default: ok_ = false; return 0;
    }
    switch (encoding & 0x70) {
      case 0: break;
      case kPePcrel: value += field; break;
      case kPeDatarel: value += data_base; break;
      default: ok_ = false; return 0;  // textrel/funcrel/aligned: not produced for x86-64 ELF
    }
    return value;
  }

 private:
  const uint8_t* p_;
  const uint8_t* end_;
  bool ok_ = true;
};

}  // namespace memtrace::preload

// LEB128 and DW_EH_PE_* decoding: the examples of the DWARF 5 standard (section 7.6, figures 22 and
// 23), and reads that would run past the end.
#include "preload/dwarf_reader.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

namespace memtrace::preload {
namespace {

uint64_t Unsigned(std::vector<uint8_t> bytes, bool* ok = nullptr) {
  DwarfReader in(bytes.data(), bytes.data() + bytes.size());
  uint64_t value = in.Uleb128();
  if (ok) *ok = in.ok() && in.remaining() == 0;
  return value;
}

int64_t Signed(std::vector<uint8_t> bytes) {
  DwarfReader in(bytes.data(), bytes.data() + bytes.size());
  int64_t value = in.Sleb128();
  EXPECT_TRUE(in.ok());
  EXPECT_EQ(in.remaining(), 0u);
  return value;
}

TEST(DwarfReader, UnsignedLeb128FromTheStandard) {
  EXPECT_EQ(Unsigned({2}), 2u);
  EXPECT_EQ(Unsigned({127}), 127u);
  EXPECT_EQ(Unsigned({0x80, 1}), 128u);
  EXPECT_EQ(Unsigned({0x81, 1}), 129u);
  EXPECT_EQ(Unsigned({0x82, 1}), 130u);
  EXPECT_EQ(Unsigned({0xb9, 0x64}), 12857u);
  EXPECT_EQ(Unsigned({0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}), UINT64_MAX);
}

TEST(DwarfReader, SignedLeb128FromTheStandard) {
  EXPECT_EQ(Signed({2}), 2);
  EXPECT_EQ(Signed({0x7e}), -2);
  EXPECT_EQ(Signed({0xff, 0}), 127);
  EXPECT_EQ(Signed({0x81, 0x7f}), -127);
  EXPECT_EQ(Signed({0x80, 1}), 128);
  EXPECT_EQ(Signed({0x80, 0x7f}), -128);
  EXPECT_EQ(Signed({0x81, 1}), 129);
  EXPECT_EQ(Signed({0xff, 0x7e}), -129);
}

TEST(DwarfReader, ReadsNeverPassTheEnd) {
  bool ok = true;
  Unsigned({0x80, 0x80}, &ok);  // continuation bit on the last byte
  EXPECT_FALSE(ok);
  std::vector<uint8_t> three = {1, 2, 3};
  DwarfReader in(three.data(), three.data() + 3);
  in.Fixed<uint32_t>();
  EXPECT_FALSE(in.ok());
  EXPECT_EQ(in.remaining(), 0u);
  DwarfReader skip(three.data(), three.data() + 3);
  skip.Skip(4);
  EXPECT_FALSE(skip.ok());
}

TEST(DwarfReader, PointerEncodings) {
  // pcrel|sdata4: relative to the field's own address.
  int32_t delta = -16;
  uint8_t field[4];
  memcpy(field, &delta, 4);
  DwarfReader pcrel(field, field + 4);
  EXPECT_EQ(pcrel.Pointer(kPePcrel | kPeSdata4), reinterpret_cast<uint64_t>(field) - 16);
  // datarel|sdata4: relative to the given base (the .eh_frame_hdr).
  DwarfReader datarel(field, field + 4);
  EXPECT_EQ(datarel.Pointer(kPeDatarel | kPeSdata4, 1000), 1000u - 16);
  // udata2 absolute, and omit.
  uint8_t two[2] = {0x34, 0x12};
  DwarfReader udata(two, two + 2);
  EXPECT_EQ(udata.Pointer(kPeUdata2), 0x1234u);
  EXPECT_EQ(udata.Pointer(kPeOmit), 0u);
  EXPECT_TRUE(udata.ok());
  // An application other than absptr/pcrel/datarel is refused.
  DwarfReader textrel(field, field + 4);
  textrel.Pointer(0x20 | kPeSdata4);
  EXPECT_FALSE(textrel.ok());
}

}  // namespace
}  // namespace memtrace::preload

// The CFI interpreter against binutils' own: for every FDE of libc and of this test binary, each row
// `readelf --debug-dump=frames-interp` prints (CFA rule, return address, RBP) must be the FrameRule
// ComputeFrameRule yields at that row's first and last address. The FDEs are found through
// eh_frame_index (the .eh_frame_hdr table of the loaded module), so the index is exercised too.
#include "preload/cfi_rule.h"

#include <gtest/gtest.h>
#include <link.h>
#include <stdio.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "preload/dwarf_reader.h"
#include "preload/eh_frame_index.h"

namespace memtrace::preload {
namespace {

struct ReadelfRow {
  uint64_t location;
  std::string cfa;  // "rsp+8", "rbp+16", "exp"
  std::string ra;   // "c-8", "u"
  std::string rbp;  // "c-16", "u", "" (no column)
};

struct ReadelfFde {
  uint64_t begin;
  uint64_t end;
  std::vector<ReadelfRow> rows;  // the CIE's initial row when the FDE has none of its own
};

std::vector<std::string> Split(const std::string& line) {
  std::istringstream in(line);
  std::vector<std::string> words;
  for (std::string word; in >> word;) words.push_back(word);
  return words;
}

// Parses `readelf -wF path`.
std::deque<ReadelfFde> ReadelfFdes(const std::string& path) {
  std::string command = "readelf -wF '" + path + "' 2>/dev/null";
  FILE* pipe = popen(command.c_str(), "r");
  EXPECT_NE(pipe, nullptr);
  std::deque<ReadelfFde> fdes;  // stable references while it grows
  std::map<std::string, std::vector<ReadelfRow>> cie_rows;
  std::vector<ReadelfRow>* rows = nullptr;
  std::string cie_offset;
  std::vector<std::string> columns;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe)) {
    std::vector<std::string> words = Split(buffer);
    if (words.empty()) continue;
    if (words.size() >= 4 && words[3] == "CIE") {
      rows = &cie_rows[words[0]];
      continue;
    }
    if (words.size() >= 6 && words[3] == "FDE") {
      ReadelfFde fde;
      std::string cie = words[4].substr(4);
      std::string range = words[5].substr(3);
      size_t dots = range.find("..");
      fde.begin = std::stoull(range.substr(0, dots), nullptr, 16);
      fde.end = std::stoull(range.substr(dots + 2), nullptr, 16);
      fde.rows = cie_rows[cie];
      fdes.push_back(fde);
      rows = &fdes.back().rows;
      rows->clear();
      columns.clear();
      // The CIE's row applies from the FDE's start until the FDE's own rows say otherwise.
      for (ReadelfRow row : cie_rows[cie]) {
        row.location = fde.begin;
        rows->push_back(row);
      }
      continue;
    }
    if (words[0] == "LOC") {
      columns = words;
      if (rows && !fdes.empty() && rows == &fdes.back().rows) rows->clear();
      continue;
    }
    if (!rows || columns.empty() || words[0].size() != 16) continue;  // not a row ("ZERO terminator")
    ReadelfRow row{std::stoull(words[0], nullptr, 16), words[1], "", ""};
    if (words.size() != columns.size()) {  // a "reg (name)" rule: two words; ours is kUnsupported too
      row.cfa = "?";
      rows->push_back(row);
      continue;
    }
    for (size_t i = 2; i < columns.size(); ++i) {
      if (columns[i] == "ra") row.ra = words[i];
      if (columns[i] == "rbp") row.rbp = words[i];
    }
    rows->push_back(row);
  }
  pclose(pipe);
  return fdes;
}

struct Module {
  std::string path;
  uint64_t base = 0;
};

// The loaded module whose name contains `needle` ("" : the executable).
Module FindModule(const char* needle) {
  struct Search {
    const char* needle;
    Module module;
  } search{needle, {}};
  dl_iterate_phdr(
      [](dl_phdr_info* info, size_t, void* data) {
        auto* s = static_cast<Search*>(data);
        const char* name = info->dlpi_name ? info->dlpi_name : "";
        bool match = *s->needle ? strstr(name, s->needle) != nullptr : *name == 0;
        if (!match || !s->module.path.empty()) return 0;
        if (*name) {
          s->module.path = name;
        } else {  // the executable: name it, as readelf runs in another process
          char path[4096];
          ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
          s->module.path.assign(path, n > 0 ? static_cast<size_t>(n) : 0);
        }
        s->module.base = info->dlpi_addr;
        return 0;
      },
      &search);
  return search.module;
}

FrameRule Expected(const ReadelfRow& row, bool* known) {
  FrameRule rule;
  *known = true;
  if (row.ra == "u") {
    rule.kind = FrameKind::kOutermost;
    return rule;
  }
  if (row.cfa == "exp" || row.cfa == "?") {
    *known = false;  // PLT stubs are checked separately; "?" rows have rules readelf prints in two words
    return rule;
  }
  bool plain_cfa = row.cfa.rfind("rsp+", 0) == 0 || row.cfa.rfind("rbp+", 0) == 0;
  bool plain_rbp = row.rbp.empty() || row.rbp == "u" || row.rbp.rfind("c-", 0) == 0;
  if (!plain_cfa || row.ra.rfind("c-", 0) != 0 || !plain_rbp) {
    rule.kind = FrameKind::kUnsupported;  // CFA in another register, RA or RBP in a register
    return rule;
  }
  rule.kind = row.cfa.rfind("rsp+", 0) == 0 ? FrameKind::kCfaRsp : FrameKind::kCfaRbp;
  rule.cfa_offset = std::stoi(row.cfa.substr(4));
  rule.ra_slot = static_cast<int8_t>(-std::stoi(row.ra.substr(2)) / 8);
  if (row.rbp.rfind("c-", 0) == 0) rule.rbp_slot = static_cast<int8_t>(-std::stoi(row.rbp.substr(2)) / 8);
  return rule;
}

// Checks every row of every FDE of the module; returns the rows checked.
int CheckModule(const Module& module) {
  std::deque<ReadelfFde> fdes = ReadelfFdes(module.path);
  EXPECT_GT(fdes.size(), 0u) << module.path;
  int checked = 0;
  for (const ReadelfFde& fde : fdes) {
    for (size_t i = 0; i < fde.rows.size(); ++i) {
      uint64_t first = fde.rows[i].location;
      uint64_t last = (i + 1 < fde.rows.size() ? fde.rows[i + 1].location : fde.end) - 1;
      if (last < first) continue;  // a row that an advance of 0 replaced at once
      for (uint64_t pc : {first, last}) {
        uint64_t runtime = module.base + pc;
        FdeLocation location;
        EXPECT_EQ(FindFde(runtime, &location), FdeSearch::kFound) << module.path << " pc " << std::hex << pc;
        FdeView view;
        EXPECT_TRUE(ParseFde(location.fde, location.limit, &view));
        EXPECT_EQ(view.pc_begin - module.base, fde.begin) << std::hex << pc;
        EXPECT_EQ(view.pc_end - module.base, fde.end) << std::hex << pc;
        bool known;
        FrameRule expected = Expected(fde.rows[i], &known);
        FrameRule actual = ComputeFrameRule(view, runtime, location.limit);
        if (view.signal_frame) {
          EXPECT_EQ(actual.kind, FrameKind::kSignal);
        } else if (known) {
          EXPECT_EQ(actual, expected)
              << module.path << " pc " << std::hex << pc << " cfa " << fde.rows[i].cfa << " ra "
              << fde.rows[i].ra << " rbp " << fde.rows[i].rbp << " got kind " << int(actual.kind) << " cfa "
              << std::dec << actual.cfa_offset << " ra " << int(actual.ra_slot) << " rbp "
              << int(actual.rbp_slot);
        }
        ++checked;
        if (::testing::Test::HasFailure()) return checked;
      }
    }
  }
  return checked;
}

TEST(CfiRule, EveryRowOfLibcMatchesReadelf) {
  Module libc = FindModule("libc.so");
  ASSERT_FALSE(libc.path.empty());
  EXPECT_GT(CheckModule(libc), 10000);
}

TEST(CfiRule, EveryRowOfThisProgramMatchesReadelf) {
  Module self = FindModule("");
  ASSERT_FALSE(self.path.empty());
  EXPECT_GT(CheckModule(self), 1000);
}

// The PLT's CFA expression (rsp + 8, plus 8 more from the 11th byte of each 16-byte stub on, where the
// stub's push has run) evaluates to RSP + constant for each PC.
TEST(CfiRule, PltExpressionEvaluatesPerPc) {
  Module self = FindModule("");
  int plt_rows = 0;
  for (const ReadelfFde& fde : ReadelfFdes(self.path)) {
    for (size_t i = 0; i < fde.rows.size(); ++i) {
      if (fde.rows[i].cfa != "exp") continue;
      uint64_t end = i + 1 < fde.rows.size() ? fde.rows[i + 1].location : fde.end;
      for (uint64_t pc = fde.rows[i].location; pc < end; ++pc) {
        FdeLocation location;
        ASSERT_EQ(FindFde(self.base + pc, &location), FdeSearch::kFound);
        FdeView view;
        ASSERT_TRUE(ParseFde(location.fde, location.limit, &view));
        FrameRule rule = ComputeFrameRule(view, self.base + pc, location.limit);
        EXPECT_EQ(rule.kind, FrameKind::kCfaRsp) << std::hex << pc;
        EXPECT_EQ(rule.cfa_offset, ((self.base + pc) & 15) >= 11 ? 16 : 8) << std::hex << pc;
        EXPECT_EQ(rule.ra_slot, -1);
        ++plt_rows;
      }
    }
  }
  EXPECT_GT(plt_rows, 0);  // the test binary calls gtest and libc through its PLT
}

TEST(CfiRule, PackedRulesRoundTripAndAreNeverZero) {
  for (FrameKind kind : {FrameKind::kNone, FrameKind::kCfaRsp, FrameKind::kCfaRbp, FrameKind::kSignal,
                         FrameKind::kOutermost, FrameKind::kUnsupported}) {
    for (int32_t offset : {0, 8, 16, -24, 4096, INT32_MIN, INT32_MAX}) {
      FrameRule rule{kind, -1, -2, offset};
      EXPECT_NE(PackRule(rule), 0u);
      EXPECT_EQ(UnpackRule(PackRule(rule)), rule);
    }
  }
}

TEST(CfiRule, MalformedEntriesAreRefused) {
  // A zero terminator, a CIE, and an FDE whose length runs past the limit.
  uint8_t terminator[4] = {0, 0, 0, 0};
  FdeView view;
  EXPECT_FALSE(ParseFde(terminator, terminator + 4, &view));
  uint8_t cie[] = {12, 0, 0, 0, 0, 0, 0, 0, 1, 'z', 'R', 0, 1, 0x78, 16, 1, 0x1b, 0};
  EXPECT_FALSE(ParseFde(cie, cie + sizeof cie, &view));
  uint8_t long_fde[] = {0xff, 0, 0, 0, 8, 0, 0, 0};
  EXPECT_FALSE(ParseFde(long_fde, long_fde + sizeof long_fde, &view));
}

}  // namespace
}  // namespace memtrace::preload

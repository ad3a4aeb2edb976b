// The symbolizer's per-module indexes (DwarfFunctionIndex, ElfSymbolIndex) against the per-address
// libdw/libdwfl walk they replace and against binutils' addr2line, on a real -O2 -g binary: this test's
// own executable (its C++ is full of inlined calls; gtest's and abseil's code, if built without -g,
// exercises the symbol-table fallback).
//
// Addresses are sampled evenly over the executable's .text, so they land in every kind of code: plain
// functions, inlined calls several levels deep, functions without DWARF, padding between functions.
#include "analyzer/symbolizer.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <gelf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "analyzer/dwarf_function_index.h"
#include "analyzer/elf_symbol_index.h"

namespace memtrace::analyzer {
namespace {

std::string SelfPath() { return std::filesystem::canonical("/proc/self/exe").string(); }

std::string Base(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

char* debuginfo_path = nullptr;
const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

// A Dwfl with one file reported at bias 0, so addresses are the file's own virtual addresses.
struct OneModule {
  explicit OneModule(const std::string& path) {
    dwfl = dwfl_begin(&kCallbacks);
    dwfl_report_begin(dwfl);
    module = dwfl_report_elf(dwfl, "self", path.c_str(), -1, 0, false);
    dwfl_report_end(dwfl, nullptr, nullptr);
  }
  ~OneModule() { dwfl_end(dwfl); }
  Dwfl* dwfl = nullptr;
  Dwfl_Module* module = nullptr;
};

struct Frame {
  std::string function, file;
  int line = 0;
  bool inlined = false;
  bool operator==(const Frame&) const = default;
};

std::ostream& operator<<(std::ostream& out, const Frame& f) {
  return out << "{" << f.function << " " << f.file << ":" << f.line << (f.inlined ? " inlined" : "") << "}";
}

// The reference: libdwfl's symbol lookup and line table, and dwarf_getscopes' walk of the compile
// unit's DIEs for the inlined calls, per address (what the symbolizer did before it had indexes).
std::vector<Frame> ReferenceFrames(Dwfl_Module* module, uint64_t pc) {
  Frame base;
  if (const char* symbol = dwfl_module_addrname(module, pc)) base.function = Demangle(symbol);
  if (Dwfl_Line* line = dwfl_module_getsrc(module, pc)) {
    if (const char* file = dwfl_lineinfo(line, nullptr, &base.line, nullptr, nullptr, nullptr))
      base.file = file;
  }
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, pc, &bias);
  Dwarf_Die* scopes = nullptr;
  int count = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
  if (count > 0 && dwarf_tag(&scopes[0]) == DW_TAG_inlined_subroutine) {
    Dwarf_Die innermost = scopes[0];
    std::free(scopes);
    scopes = nullptr;
    count = dwarf_getscopes_die(&innermost, &scopes);
  }
  std::vector<Frame> frames;
  std::string file = base.file;
  int line = base.line;
  for (int i = 0; i < count; ++i) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
    Frame frame = base;
    frame.function = DieName(&scopes[i]);
    if (frame.function.empty()) frame.function = base.function;
    frame.file = file;
    frame.line = line;
    frame.inlined = tag == DW_TAG_inlined_subroutine;
    frames.push_back(frame);
    if (tag == DW_TAG_subprogram) break;
    Dwarf_Attribute attribute;
    Dwarf_Word call_file = 0, call_line = 0;
    dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attribute), &call_file);
    dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attribute), &call_line);
    Dwarf_Files* files = nullptr;
    size_t file_count = 0;
    const char* name = nullptr;
    if (dwarf_getsrcfiles(cu, &files, &file_count) == 0 && call_file < file_count) {
      name = dwarf_filesrc(files, call_file, nullptr, nullptr);
    }
    file = name ? name : "";
    line = static_cast<int>(call_line);
  }
  std::free(scopes);
  if (frames.empty()) frames.push_back(base);
  return frames;
}

std::vector<Frame> IndexedFrames(Symbolizer& symbolizer, uint64_t pc) {
  std::vector<Frame> frames;
  for (const SymbolizedFrame& f : symbolizer.Symbolize(pc + 1))
    frames.push_back({f.function, f.file, f.line, f.inlined});
  return frames;
}

// [begin, end) of the file's .text.
std::pair<uint64_t, uint64_t> TextRange(Dwfl_Module* module) {
  GElf_Addr bias = 0;
  Elf* elf = dwfl_module_getelf(module, &bias);
  size_t strings = 0;
  elf_getshdrstrndx(elf, &strings);
  for (Elf_Scn* section = nullptr; (section = elf_nextscn(elf, section));) {
    GElf_Shdr header;
    gelf_getshdr(section, &header);
    const char* name = elf_strptr(elf, strings, header.sh_name);
    if (name && std::string(name) == ".text")
      return {header.sh_addr + bias, header.sh_addr + bias + header.sh_size};
  }
  return {0, 0};
}

std::vector<uint64_t> Sample(std::pair<uint64_t, uint64_t> range, size_t count) {
  std::vector<uint64_t> addresses;
  uint64_t step = std::max<uint64_t>(1, (range.second - range.first) / count);
  // An odd step so that samples fall at every alignment, not just at instruction-friendly ones.
  step |= 1;
  for (uint64_t a = range.first + 1; a < range.second; a += step) addresses.push_back(a);
  return addresses;
}

using Chain = std::vector<std::pair<std::string, int>>;  // (file basename, line), innermost first

// binutils' addr2line -i for each address: an independent DWARF reader (bfd), the arbiter here.
std::map<uint64_t, Chain> Addr2lineChains(const std::string& binary, const std::vector<uint64_t>& addresses) {
  std::map<uint64_t, Chain> chains;
  for (size_t first = 0; first < addresses.size(); first += 500) {
    std::string command = "addr2line -i -a -e " + binary;
    char buffer[32];
    for (size_t i = first; i < addresses.size() && i < first + 500; ++i) {
      std::snprintf(buffer, sizeof buffer, " 0x%lx", static_cast<unsigned long>(addresses[i]));
      command += buffer;
    }
    FILE* pipe = popen(command.c_str(), "r");
    if (!pipe) return {};
    uint64_t current = 0;
    char line[4096];
    while (std::fgets(line, sizeof line, pipe)) {
      std::string text(line);
      if (!text.empty() && text.back() == '\n') text.pop_back();
      if (text.rfind("0x", 0) == 0) {
        current = std::stoull(text, nullptr, 16);
        chains[current];
        continue;
      }
      size_t colon = text.rfind(':');
      std::string file = text.substr(0, colon);
      int number = std::atoi(text.c_str() + colon + 1);  // "12 (discriminator 3)" reads as 12
      chains[current].emplace_back(file == "??" || number == 0 ? "" : Base(file), number);
    }
    if (pclose(pipe) != 0) return {};
  }
  return chains;
}

Chain ChainOf(const std::vector<Frame>& frames) {
  Chain chain;
  for (const Frame& f : frames) chain.emplace_back(f.line ? Base(f.file) : "", f.line);
  return chain;
}

bool HaveAddr2line() { return system("command -v addr2line >/dev/null 2>&1") == 0; }

class SymbolizerIndexes : public ::testing::Test {
 protected:
  SymbolizerIndexes() : self(SelfPath()), reference(self), symbolizer({Module{0, 1ull << 40, self, ""}}) {}
  std::string self;
  OneModule reference;
  Symbolizer symbolizer;
};

// Inlined calls (names, call sites, lines) as libdw's per-address scopes walk finds them, and the
// out-of-line function as the symbol table names it. That walk is not always right: for some code
// inlined into inlined code it skips a level or stops short of the function. Where the chains differ
// in length, addr2line decides, and the index must agree with it.
TEST_F(SymbolizerIndexes, SameFramesAsLibdwScopesWalk) {
  ASSERT_NE(reference.module, nullptr);
  auto text = TextRange(reference.module);
  ASSERT_LT(text.first, text.second);
  size_t with_inlines = 0, with_lines = 0, compared = 0;
  std::vector<uint64_t> disputed;
  for (uint64_t pc : Sample(text, 4000)) {
    std::vector<Frame> want = ReferenceFrames(reference.module, pc);
    std::vector<Frame> got = IndexedFrames(symbolizer, pc);
    ASSERT_FALSE(got.empty());
    EXPECT_FALSE(got.back().inlined);
    const char* symbol = dwfl_module_addrname(reference.module, pc);
    if (symbol) {
      EXPECT_EQ(got.back().function, Demangle(symbol)) << "at " << std::hex << pc;
      got.back().function = want.back().function;  // the out-of-line name is the symbol's, checked
    }
    ++compared;
    if (got.size() != want.size()) {
      disputed.push_back(pc);
      continue;
    }
    ASSERT_EQ(got, want) << "at " << std::hex << pc;
    with_inlines += want.size() > 1;
    with_lines += want[0].line > 0;
  }
  // The sample must have reached what the indexes are for.
  EXPECT_GT(compared, 3000u);
  EXPECT_GT(with_inlines, compared / 10);
  EXPECT_GT(with_lines, compared / 5);
  EXPECT_LT(disputed.size(), compared / 4);
  if (disputed.empty()) return;
  if (!HaveAddr2line()) GTEST_SKIP() << disputed.size() << " disputed addresses and no addr2line to decide";
  std::map<uint64_t, Chain> arbiter = Addr2lineChains(self, disputed);
  for (uint64_t pc : disputed) {
    EXPECT_EQ(ChainOf(IndexedFrames(symbolizer, pc)), arbiter[pc]) << "at " << std::hex << pc;
  }
}

// Names as libdwfl's symbol lookup gives them; aliases at one address (a constructor's C1 and C2
// symbols) demangle alike, so names are compared demangled.
TEST_F(SymbolizerIndexes, SymbolIndexAgreesWithDwflAddrname) {
  ElfSymbolIndex index(reference.module);
  ASSERT_GT(index.size(), 1000u);
  size_t named = 0;
  for (uint64_t pc : Sample(TextRange(reference.module), 20000)) {
    const char* want = dwfl_module_addrname(reference.module, pc);
    const char* got = index.FunctionAt(pc);
    ASSERT_EQ(Demangle(got), Demangle(want)) << std::hex << pc;
    named += want != nullptr;
  }
  EXPECT_GT(named, 10000u);
}

// File and line of every inlining level. addr2line (binutils 2.40) sometimes names the wrong file of a
// DWARF 5 line table (the right line number in the CU's primary file); those lines are counted and
// must stay rare, every other one must match.
TEST_F(SymbolizerIndexes, SameLinesAsAddr2line) {
  if (!HaveAddr2line()) GTEST_SKIP() << "addr2line is not installed";
  // Only addresses inside a function's symbol: a return address never points into the padding
  // between functions, which the line table's last row of a sequence may cover and addr2line not.
  std::vector<uint64_t> addresses;
  for (uint64_t pc : Sample(TextRange(reference.module), 3000)) {
    GElf_Off offset = 0;
    GElf_Sym symbol;
    if (dwfl_module_addrinfo(reference.module, pc, &offset, &symbol, nullptr, nullptr, nullptr) &&
        offset < symbol.st_size) {
      addresses.push_back(pc);
    }
  }
  ASSERT_GT(addresses.size(), 1500u);
  std::map<uint64_t, Chain> theirs = Addr2lineChains(self, addresses);
  ASSERT_EQ(theirs.size(), addresses.size());
  size_t located = 0, other_file = 0;
  for (uint64_t pc : addresses) {
    Chain ours = ChainOf(IndexedFrames(symbolizer, pc));
    Chain& want = theirs[pc];
    ASSERT_EQ(ours.size(), want.size()) << "at " << std::hex << pc;
    for (size_t i = 0; i < ours.size(); ++i) {
      EXPECT_EQ(ours[i].second, want[i].second) << "at " << std::hex << pc;
      other_file += ours[i].first != want[i].first;
    }
    located += ours[0].second > 0;
  }
  EXPECT_GT(located, addresses.size() / 3);
  EXPECT_LT(other_file, addresses.size() / 100);
}

// __cxa_demangle also decodes bare type encodings: "f" would be "float", "i" "int".
TEST(Demangle, OnlyMangledNames) {
  EXPECT_EQ(Demangle("f"), "f");
  EXPECT_EQ(Demangle("i"), "i");
  EXPECT_EQ(Demangle("main"), "main");
  EXPECT_EQ(Demangle("_ZN5sites7ThrowerEm"), "sites::Thrower(unsigned long)");
  EXPECT_EQ(Demangle("_ZZN5sites12MakeCallbackEvENKUlmE_clEm"),
            "sites::MakeCallback()::{lambda(unsigned long)#1}::operator()(unsigned long) const");
}

}  // namespace
}  // namespace memtrace::analyzer

// Every function of one module and the inlined calls inside it, sorted so that the scopes around an
// address are a binary search and a short scan away.
//
// Why not dwarf_getscopes per address: it walks the compile unit's DIE tree from the top for every
// address (and dwarf_getscopes_die once more for inlined code), which for big C++ compile units and a
// million distinct addresses is minutes. This walks each DIE once.
//
// Lazily, by compile unit: a report asks for a few dozen addresses, and walking every DIE of a big
// module (libc's separate debug file: ~500 M instructions) cost more than the rest of a summary of a
// small trace. libdw's address ranges by compile unit (.debug_aranges) say which unit to walk; a module
// without them, or an address they do not cover, has every unit walked once, as before.
//
// Layout, per walked unit: `functions` holds one entry per address range of a concrete subprogram
// (out-of-line function), sorted by start; each points at its slice of `inlines`, the inlined-subroutine
// ranges inside that function in DIE pre-order with their nesting depth. The scopes at pc are the
// function whose range holds pc and the inlines of its slice that hold pc, innermost (deepest) first.
//
// Names are DIE offsets until asked for: most functions of a module never are. An inlined call is
// named by its DIE (through DW_AT_abstract_origin / DW_AT_specification): the demangled linkage name,
// else DW_AT_name; the out-of-line function is usually named by its symbol instead (Symbolizer).
//
// Not thread-safe (units are walked and names cached on first use).
#pragma once

#include <absl/container/node_hash_map.h>
#include <elfutils/libdw.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

struct Dwfl_Module;

namespace memtrace::analyzer {

class DwarfFunctionIndex {
 public:
  // Walks `module`'s DWARF (its separate debug file's, if libdwfl found one). A module without DWARF
  // gives an empty index.
  explicit DwarfFunctionIndex(Dwfl_Module* module);

  struct Scope {
    const std::string* function;  // demangled; the linkage name if present, else DW_AT_name
    bool inlined;                 // an inlined call; the next scope is the function it is inlined in
    const char* call_file;        // for an inlined call: where the next scope made it (may be null)
    int call_line;
  };
  // The scopes around run-time address `pc`, innermost first, the out-of-line function last. Empty
  // when no function's range holds pc.
  void ScopesAt(uint64_t pc, std::vector<Scope>* scopes);

 private:
  struct FunctionRange {
    uint64_t low, high;   // DWARF addresses (run-time minus bias)
    Dwarf_Off die;        // the subprogram DIE
    uint32_t first, end;  // its slice of inlines
  };
  struct InlineRange {
    uint64_t low, high;
    Dwarf_Off die;
    uint32_t depth;  // 1 = directly inside the function
    const char* call_file;
    int call_line;
  };
  // The functions of one or more compile units.
  struct Units {
    std::vector<FunctionRange> functions;
    std::vector<InlineRange> inlines;
  };
  // The walked functions that may hold DWARF address `address`.
  const Units* UnitsAt(uint64_t address);
  static void WalkUnit(Dwarf_Die* unit, Units* units);
  static void WalkChildren(Dwarf_Die* parent, Dwarf_Files* files, size_t file_count, Units* units);
  static void AddFunction(Dwarf_Die* die, Dwarf_Files* files, size_t file_count, Units* units);
  const std::string* NameOf(Dwarf_Off die);

  Dwfl_Module* module_ = nullptr;
  Dwarf* dwarf_ = nullptr;
  Dwarf_Addr bias_ = 0;
  absl::node_hash_map<Dwarf_Off, Units> units_;        // by unit DIE offset, walked on first use
  std::unique_ptr<Units> all_;                         // every unit, for addresses the ranges miss
  absl::node_hash_map<Dwarf_Off, std::string> names_;  // node map: Scope::function points into it
};

// The name of a subprogram or inlined-subroutine DIE, following abstract origins and specifications:
// the demangled linkage name, else DW_AT_name, else empty.
std::string DieName(Dwarf_Die* die);

}  // namespace memtrace::analyzer

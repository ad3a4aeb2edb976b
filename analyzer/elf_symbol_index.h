// The function symbols of one module, sorted once, for the function name of an address that has no
// DWARF (stripped modules keep .dynsym; libraries without debug info keep .symtab or .dynsym).
//
// Why not dwfl_module_addrname: in elfutils 0.188 it scans the whole symbol table for every address,
// which at a million distinct addresses and tens of thousands of symbols is minutes of work. This is
// one sort per module and a binary search per address.
//
// Choice among symbols, as libdwfl's: a sized symbol contains [value, value + size); among symbols at
// the same address a global one is preferred to a weak one, and a weak one to a local one; a symbol of
// size 0 covers up to the next symbol.
//
// Immutable after construction: safe to read from several threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

struct Dwfl_Module;

namespace memtrace::analyzer {

class ElfSymbolIndex {
 public:
  // Reads `module`'s symbol table (libdwfl picks .symtab, of the debug file if it has one, else
  // .dynsym). Names point into libdwfl's copy of the string table: valid while the Dwfl lives.
  explicit ElfSymbolIndex(Dwfl_Module* module);

  // The (mangled) name of the function symbol containing run-time address `address`, or nullptr.
  const char* FunctionAt(uint64_t address) const;
  size_t size() const { return symbols_.size(); }

 private:
  struct Symbol {
    uint64_t begin;  // run-time address
    uint64_t end;    // begin + size; == begin for a symbol of unknown size
    const char* name;
    int rank;   // binding preference: 2 global, 1 weak, 0 local
    int order;  // index in the symbol table
  };
  std::vector<Symbol> symbols_;  // sorted by begin; one symbol per address (the preferred one)
};

}  // namespace memtrace::analyzer

// Offline symbolization with elfutils' libdw: function (demangled), file:line and inlined frames for
// an address of the traced process, from the module list the trace carries. Separate debug files
// (/usr/lib/debug/.build-id) are used when present. A missing, changed or stripped module falls back
// to module+offset, never to an error.
//
// Cost: each distinct address is looked up once (cached). Function names and inlined calls come from
// per-module indexes built on first use (DwarfFunctionIndex, ElfSymbolIndex for modules without DWARF);
// libdw is kept for the line table, whose lookup is already a binary search per compile unit.
//
// Not thread-safe.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "analyzer/dwarf_function_index.h"
#include "analyzer/elf_symbol_index.h"
#include "analyzer/json_writer.h"
#include "analyzer/stack_store.h"

struct Dwfl;
struct Dwfl_Module;

namespace memtrace::analyzer {

struct SymbolizedFrame {
  uint64_t address = 0;
  std::string function;  // empty when unknown
  std::string file;      // empty when unknown
  int line = 0;
  std::string module;  // path of the module the address falls in, empty if none
  uint64_t module_offset = 0;
  bool inlined = false;  // an inlined call inside the next frame's function
};

class Symbolizer {
 public:
  explicit Symbolizer(const std::vector<Module>& modules);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The source-level frames at return address `address` (innermost inlined call first).
  const std::vector<SymbolizedFrame>& Symbolize(uint64_t address);

  // "f (file.c:12)", "f (in /lib/x.so)", "??? (in /lib/x.so+0x1234)".
  static std::string Describe(const SymbolizedFrame& frame);

 private:
  struct ModuleIndex {
    std::unique_ptr<ElfSymbolIndex> symbols;
    std::unique_ptr<DwarfFunctionIndex> functions;
  };
  std::vector<SymbolizedFrame> Lookup(uint64_t address);
  ModuleIndex& IndexOf(Dwfl_Module* module);
  const Module* ModuleAt(uint64_t address) const;
  Dwfl* dwfl_ = nullptr;
  std::vector<Module> modules_;
  absl::flat_hash_set<Dwfl_Module*> stale_;  // modules whose file no longer matches the trace's build id
  absl::flat_hash_map<uint64_t, std::vector<SymbolizedFrame>> cache_;
  absl::flat_hash_map<Dwfl_Module*, ModuleIndex> indexes_;  // built on a module's first lookup
  std::vector<DwarfFunctionIndex::Scope> scopes_;           // scratch for Lookup
};

std::string Demangle(const char* name);

// Writes `frames` as a JSON array named `key` of {address, function, file, line, module,
// module_offset, inlined}: the one frame layout every --json report uses.
void WriteFramesJson(JsonWriter& json, const char* key, const std::vector<SymbolizedFrame>& frames);

// All source-level frames of a stack of return addresses, innermost first, inlined calls expanded.
std::vector<SymbolizedFrame> SymbolizeStack(Symbolizer& symbolizer, const std::vector<uint64_t>& frames);

}  // namespace memtrace::analyzer

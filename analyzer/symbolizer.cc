#include "analyzer/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fmt/core.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <string_view>

namespace memtrace::analyzer {

namespace {

char* debuginfo_path = nullptr;  // libdw's default: .debug next to the file, /usr/lib/debug

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_build_id_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = dwfl_offline_section_address,
    .debuginfo_path = &debuginfo_path,
};

std::string BaseName(const std::string& path) {
  size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A symbol's demangled name without the version a .symtab entry may carry ("f@@GLIBC_2.34").
std::string SymbolName(const char* symbol) {
  if (!symbol) return "";
  const char* at = std::strchr(symbol, '@');
  return Demangle(at ? std::string(symbol, at).c_str() : symbol);
}

}  // namespace

std::string Demangle(const char* name) {
  if (!name) return "";
  // Only mangled names: __cxa_demangle also takes a bare type encoding, so a C function named "f"
  // would come out as "float".
  if (std::strncmp(name, "_Z", 2) != 0) return name;
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || !demangled) return name;
  std::string result = demangled;
  std::free(demangled);
  return result;
}

Symbolizer::Symbolizer(const std::vector<Module>& modules) : modules_(modules) {
  dwfl_ = dwfl_begin(&kCallbacks);
  if (!dwfl_) return;
  dwfl_report_begin(dwfl_);
  for (const Module& module : modules_) {
    if (module.path.empty() || module.path[0] != '/') continue;  // the vdso has no file
    Dwfl_Module* reported =
        dwfl_report_elf(dwfl_, BaseName(module.path).c_str(), module.path.c_str(), -1, module.base, false);
    // A file rebuilt since the trace was taken would give wrong names: use module+offset for it.
    const unsigned char* bits = nullptr;
    GElf_Addr vaddr = 0;
    int length = reported ? dwfl_module_build_id(reported, &bits, &vaddr) : 0;
    if (!module.build_id.empty() && length > 0 &&
        std::string_view(reinterpret_cast<const char*>(bits), static_cast<size_t>(length)) !=
            module.build_id) {
      stale_.insert(reported);
    }
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
}

Symbolizer::~Symbolizer() {
  if (dwfl_) dwfl_end(dwfl_);
}

const Module* Symbolizer::ModuleAt(uint64_t address) const {
  for (const Module& module : modules_) {
    if (address >= module.base && address < module.base + module.size) return &module;
  }
  return nullptr;
}

const std::vector<SymbolizedFrame>& Symbolizer::Symbolize(uint64_t address) {
  auto it = cache_.find(address);
  if (it != cache_.end()) return it->second;
  return cache_.emplace(address, Lookup(address)).first->second;
}

Symbolizer::ModuleIndex& Symbolizer::IndexOf(Dwfl_Module* module) {
  auto it = indexes_.find(module);
  if (it != indexes_.end()) return it->second;
  ModuleIndex& index = indexes_[module];
  index.symbols = std::make_unique<ElfSymbolIndex>(module);
  index.functions = std::make_unique<DwarfFunctionIndex>(module);
  return index;
}

std::vector<SymbolizedFrame> Symbolizer::Lookup(uint64_t address) {
  SymbolizedFrame base;
  base.address = address;
  if (const Module* module = ModuleAt(address)) {
    base.module = module->path;
    base.module_offset = address - module->base;
  }
  Dwfl_Module* module = dwfl_ ? dwfl_addrmodule(dwfl_, address - 1) : nullptr;
  if (!module || stale_.contains(module)) return {base};
  // A return address points after the call; the call itself is one byte earlier.
  const Dwarf_Addr pc = address - 1;
  ModuleIndex& index = IndexOf(module);
  if (Dwfl_Line* line = dwfl_module_getsrc(module, pc)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      base.file = file;
      base.line = lineno;
    }
  }
  // The line table gives the innermost location; each inlined call's DIE gives where its caller
  // made it, which is the next frame's location.
  // The out-of-line function is named by its symbol when there is one, as valgrind and c++filt name
  // it: that keeps a clone's suffix ("f() [clone .isra.0]") and qualifies constructors, whose DWARF
  // has no linkage name. Inlined calls have no symbol: their DIEs name them.
  const char* symbol = index.symbols->FunctionAt(pc);
  index.functions->ScopesAt(pc, &scopes_);
  if (scopes_.empty()) {
    base.function = SymbolName(symbol);
    return {base};
  }
  std::vector<SymbolizedFrame> frames;
  frames.reserve(scopes_.size());
  std::string file = base.file;
  int line = base.line;
  for (const DwarfFunctionIndex::Scope& scope : scopes_) {
    SymbolizedFrame& frame = frames.emplace_back(base);
    frame.function = !scope.inlined && symbol ? SymbolName(symbol) : *scope.function;
    frame.file = std::move(file);
    frame.line = line;
    frame.inlined = scope.inlined;
    file = scope.call_file ? scope.call_file : "";
    line = scope.call_line;
  }
  return frames;
}

void WriteFramesJson(JsonWriter& json, const char* key, const std::vector<SymbolizedFrame>& frames) {
  json.BeginArray(key);
  for (const SymbolizedFrame& frame : frames) {
    json.BeginObject()
        .Field("address", frame.address)
        .Field("function", frame.function)
        .Field("file", frame.file)
        .Field("line", frame.line)
        .Field("module", frame.module)
        .Field("module_offset", frame.module_offset)
        .Field("inlined", frame.inlined)
        .EndObject();
  }
  json.EndArray();
}

std::vector<SymbolizedFrame> SymbolizeStack(Symbolizer& symbolizer, const std::vector<uint64_t>& frames) {
  std::vector<SymbolizedFrame> result;
  for (uint64_t address : frames) {
    const auto& symbolized = symbolizer.Symbolize(address);
    result.insert(result.end(), symbolized.begin(), symbolized.end());
  }
  return result;
}

std::string Symbolizer::Describe(const SymbolizedFrame& frame) {
  std::string function = frame.function.empty() ? "???" : frame.function;
  if (!frame.file.empty() && frame.line > 0)
    return fmt::format("{} ({}:{})", function, BaseName(frame.file), frame.line);
  if (frame.module.empty()) return function;
  if (frame.function.empty()) return fmt::format("??? (in {}+{:#x})", frame.module, frame.module_offset);
  return fmt::format("{} (in {})", function, frame.module);
}

}  // namespace memtrace::analyzer

#include "analyzer/symbolizer.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <fmt/core.h>

#include <cstdlib>
#include <cstring>
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

// The name of a subprogram or inlined-subroutine DIE, following abstract origins.
std::string DieName(Dwarf_Die* die) {
  Dwarf_Attribute attribute;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attribute));
  if (!linkage) linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attribute));
  if (linkage) return Demangle(linkage);
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attribute));
  return name ? name : "";
}

}  // namespace

std::string Demangle(const char* name) {
  if (!name) return "";
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
  if (const char* symbol = dwfl_module_addrname(module, pc)) base.function = Demangle(symbol);
  if (Dwfl_Line* line = dwfl_module_getsrc(module, pc)) {
    int lineno = 0;
    if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
      base.file = file;
      base.line = lineno;
    }
  }
  // Inlined calls: the scopes around pc, innermost first. Each inlined subroutine is a frame whose
  // location is the line table's (for the innermost) or the call site recorded in the DIE inside it.
  Dwarf_Addr bias = 0;
  Dwarf_Die* cu = dwfl_module_addrdie(module, pc, &bias);
  Dwarf_Die* scopes = nullptr;
  int count = cu ? dwarf_getscopes(cu, pc - bias, &scopes) : 0;
  if (count > 0 && dwarf_tag(&scopes[0]) == DW_TAG_inlined_subroutine) {
    // dwarf_getscopes leaves the concrete tree at the first inlined call; walk the containing
    // concrete DIEs instead, so every inlining level up to the real function is seen.
    Dwarf_Die innermost = scopes[0];
    std::free(scopes);
    scopes = nullptr;
    count = dwarf_getscopes_die(&innermost, &scopes);
  }
  std::vector<SymbolizedFrame> frames;
  std::string file = base.file;
  int line = base.line;
  for (int i = 0; i < count; ++i) {
    int tag = dwarf_tag(&scopes[i]);
    if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
    SymbolizedFrame frame = base;
    frame.function = DieName(&scopes[i]);
    if (frame.function.empty()) frame.function = base.function;
    frame.file = file;
    frame.line = line;
    frame.inlined = tag == DW_TAG_inlined_subroutine;
    frames.push_back(frame);
    if (tag == DW_TAG_subprogram) break;
    // The caller's location is where this inlined call was made.
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

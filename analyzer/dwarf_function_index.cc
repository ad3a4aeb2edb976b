#include "analyzer/dwarf_function_index.h"

#include <dwarf.h>
#include <elfutils/libdwfl.h>

#include <algorithm>

#include "analyzer/symbolizer.h"

namespace memtrace::analyzer {

namespace {

// Tags whose children may hold function definitions (C++ member functions defined in a class body,
// functions in namespaces); everything else at file scope (types, variables) is skipped unread.
bool IsContainer(int tag) {
  return tag == DW_TAG_namespace || tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
         tag == DW_TAG_union_type || tag == DW_TAG_module;
}

const char* CallFile(Dwarf_Die* die, Dwarf_Files* files, size_t file_count) {
  Dwarf_Attribute attribute;
  Dwarf_Word index = 0;
  if (!files || dwarf_formudata(dwarf_attr(die, DW_AT_call_file, &attribute), &index) != 0) return nullptr;
  return index < file_count ? dwarf_filesrc(files, index, nullptr, nullptr) : nullptr;
}

int CallLine(Dwarf_Die* die) {
  Dwarf_Attribute attribute;
  Dwarf_Word line = 0;
  dwarf_formudata(dwarf_attr(die, DW_AT_call_line, &attribute), &line);
  return static_cast<int>(line);
}

// Calls f(low, high) for each address range of `die` (DW_AT_low_pc/high_pc or DW_AT_ranges).
template <typename F>
void ForEachRange(Dwarf_Die* die, F f) {
  Dwarf_Addr base = 0, low = 0, high = 0;
  for (ptrdiff_t offset = 0; (offset = dwarf_ranges(die, offset, &base, &low, &high)) > 0;) {
    if (high > low) f(low, high);
  }
}

}  // namespace

std::string DieName(Dwarf_Die* die) {
  Dwarf_Attribute attribute;
  const char* linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_linkage_name, &attribute));
  if (!linkage) linkage = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attribute));
  if (linkage) return Demangle(linkage);
  const char* name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_name, &attribute));
  return name ? name : "";
}

DwarfFunctionIndex::DwarfFunctionIndex(Dwfl_Module* module) : module_(module) {
  if (module) dwarf_ = dwfl_module_getdwarf(module, &bias_);
}

const DwarfFunctionIndex::Units* DwarfFunctionIndex::UnitsAt(uint64_t address) {
  // libdw's own answer (.debug_aranges), as dwfl_module_addrdie and dwarf_getscopes use. Several units
  // may claim an address (copies of one inline function that the linker folded): it picks one whose
  // DIEs describe the code there.
  Dwarf_Die unit;
  if (dwarf_addrdie(dwarf_, address, &unit)) {
    auto [found, inserted] = units_.try_emplace(dwarf_dieoffset(&unit));
    if (inserted) WalkUnit(&unit, &found->second);
    return &found->second;
  }
  if (!all_) {
    all_ = std::make_unique<Units>();
    Dwarf_Addr unit_bias = 0;
    for (Dwarf_Die* each = dwfl_module_nextcu(module_, nullptr, &unit_bias); each;
         each = dwfl_module_nextcu(module_, each, &unit_bias)) {
      WalkUnit(each, all_.get());
    }
  }
  return all_.get();
}

void DwarfFunctionIndex::WalkUnit(Dwarf_Die* unit, Units* units) {
  Dwarf_Files* files = nullptr;
  size_t file_count = 0;
  if (dwarf_getsrcfiles(unit, &files, &file_count) != 0) files = nullptr, file_count = 0;
  WalkChildren(unit, files, file_count, units);
  std::sort(units->functions.begin(), units->functions.end(),
            [](const FunctionRange& a, const FunctionRange& b) { return a.low < b.low; });
}

void DwarfFunctionIndex::WalkChildren(Dwarf_Die* parent, Dwarf_Files* files, size_t file_count,
                                      Units* units) {
  Dwarf_Die child;
  if (dwarf_child(parent, &child) != 0) return;
  do {
    int tag = dwarf_tag(&child);
    if (tag == DW_TAG_subprogram) {
      AddFunction(&child, files, file_count, units);
    } else if (IsContainer(tag)) {
      WalkChildren(&child, files, file_count, units);
    }
  } while (dwarf_siblingof(&child, &child) == 0);
}

void DwarfFunctionIndex::AddFunction(Dwarf_Die* die, Dwarf_Files* files, size_t file_count, Units* units) {
  std::vector<InlineRange>& inlines = units->inlines;
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  ForEachRange(die, [&](uint64_t low, uint64_t high) { ranges.emplace_back(low, high); });
  if (ranges.empty()) return;  // a declaration or an abstract instance: no code of its own
  const uint32_t first = static_cast<uint32_t>(inlines.size());
  // Function definitions nested in this one (local classes' members, nested functions) become
  // functions of their own once this one's inlined calls are listed.
  std::vector<Dwarf_Die> nested;
  // Pre-order walk with an explicit stack of (DIE, depth of inlined calls around it).
  std::vector<std::pair<Dwarf_Die, uint32_t>> pending;
  Dwarf_Die child;
  if (dwarf_child(die, &child) == 0) pending.emplace_back(child, 1);
  while (!pending.empty()) {
    auto [current, depth] = pending.back();
    pending.pop_back();
    // Siblings after this one are visited after its subtree: push the next sibling first.
    Dwarf_Die sibling;
    if (dwarf_siblingof(&current, &sibling) == 0) pending.emplace_back(sibling, depth);
    int tag = dwarf_tag(&current);
    Dwarf_Die inner;
    if (tag == DW_TAG_inlined_subroutine) {
      const char* call_file = CallFile(&current, files, file_count);
      int call_line = CallLine(&current);
      ForEachRange(&current, [&](uint64_t low, uint64_t high) {
        inlines.push_back({low, high, dwarf_dieoffset(&current), depth, call_file, call_line});
      });
      if (dwarf_child(&current, &inner) == 0) pending.emplace_back(inner, depth + 1);
    } else if (tag == DW_TAG_lexical_block) {
      if (dwarf_child(&current, &inner) == 0) pending.emplace_back(inner, depth);
    } else if (tag == DW_TAG_subprogram) {
      nested.push_back(current);
    } else if (IsContainer(tag)) {
      // A local class: its member functions may be defined here.
      if (dwarf_child(&current, &inner) == 0) {
        do {
          if (dwarf_tag(&inner) == DW_TAG_subprogram) nested.push_back(inner);
        } while (dwarf_siblingof(&inner, &inner) == 0);
      }
    }
  }
  const uint32_t end = static_cast<uint32_t>(inlines.size());
  for (const auto& [low, high] : ranges)
    units->functions.push_back({low, high, dwarf_dieoffset(die), first, end});
  for (Dwarf_Die& inner : nested) AddFunction(&inner, files, file_count, units);
}

const std::string* DwarfFunctionIndex::NameOf(Dwarf_Off offset) {
  auto it = names_.find(offset);
  if (it != names_.end()) return &it->second;
  Dwarf_Die die;
  std::string name = dwarf_offdie(dwarf_, offset, &die) ? DieName(&die) : std::string();
  return &names_.emplace(offset, std::move(name)).first->second;
}

void DwarfFunctionIndex::ScopesAt(uint64_t pc, std::vector<Scope>* scopes) {
  scopes->clear();
  if (!dwarf_) return;
  const uint64_t address = pc - bias_;
  const Units& units = *UnitsAt(address);
  const std::vector<FunctionRange>& functions = units.functions;
  auto it = std::upper_bound(functions.begin(), functions.end(), address,
                             [](uint64_t a, const FunctionRange& f) { return a < f.low; });
  // The last function starting at or below the address; a nested function's range lies inside its
  // parent's, so if the address is past the nearest start, a few earlier ones may still hold it.
  const FunctionRange* function = nullptr;
  for (int back = 0; it != functions.begin() && back < 8; ++back) {
    --it;
    if (address < it->high) {
      function = &*it;
      break;
    }
  }
  if (!function) return;
  // Inlined calls holding the address: one per depth, outermost first in pre-order.
  std::vector<const InlineRange*> chain;
  for (uint32_t i = function->first; i < function->end; ++i) {
    const InlineRange& range = units.inlines[i];
    if (address >= range.low && address < range.high) {
      if (range.depth <= chain.size()) chain.resize(range.depth - 1);  // a sibling at a shallower depth
      chain.push_back(&range);
    }
  }
  for (auto inner = chain.rbegin(); inner != chain.rend(); ++inner) {
    scopes->push_back({NameOf((*inner)->die), true, (*inner)->call_file, (*inner)->call_line});
  }
  scopes->push_back({NameOf(function->die), false, nullptr, 0});
}

}  // namespace memtrace::analyzer

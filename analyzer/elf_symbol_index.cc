#include "analyzer/elf_symbol_index.h"

#include <elfutils/libdwfl.h>
#include <gelf.h>

#include <algorithm>

namespace memtrace::analyzer {

namespace {

int RankOf(int binding) {
  if (binding == STB_GLOBAL) return 2;
  if (binding == STB_WEAK) return 1;
  return 0;
}

}  // namespace

ElfSymbolIndex::ElfSymbolIndex(Dwfl_Module* module) {
  int count = module ? dwfl_module_getsymtab(module) : -1;
  for (int i = 1; i < count; ++i) {
    GElf_Sym symbol;
    GElf_Addr address = 0;
    GElf_Word section = 0;
    const char* name = dwfl_module_getsym_info(module, i, &symbol, &address, &section, nullptr, nullptr);
    if (!name || !*name || symbol.st_shndx == SHN_UNDEF || section == static_cast<GElf_Word>(-1)) continue;
    int type = GELF_ST_TYPE(symbol.st_info);
    if (type != STT_FUNC && type != STT_GNU_IFUNC) continue;
    symbols_.push_back({address, address + symbol.st_size, name, RankOf(GELF_ST_BIND(symbol.st_info)), i});
  }
  // By address; at one address the preferred binding first, then (libdwfl keeps the first match it
  // meets) the one earlier in the table.
  std::sort(symbols_.begin(), symbols_.end(), [](const Symbol& a, const Symbol& b) {
    if (a.begin != b.begin) return a.begin < b.begin;
    if (a.rank != b.rank) return a.rank > b.rank;
    return a.order < b.order;
  });
  symbols_.erase(std::unique(symbols_.begin(), symbols_.end(),
                             [](const Symbol& a, const Symbol& b) { return a.begin == b.begin; }),
                 symbols_.end());
}

const char* ElfSymbolIndex::FunctionAt(uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](uint64_t a, const Symbol& s) { return a < s.begin; });
  if (it == symbols_.begin()) return nullptr;
  const Symbol& candidate = *(it - 1);
  if (address < candidate.end) return candidate.name;
  if (candidate.end == candidate.begin) return candidate.name;  // unknown size: up to the next symbol
  // A symbol nested in a larger one (hand-written assembly): look back a little for a container.
  for (auto back = it - 1; back != symbols_.begin() && (it - back) < 8;) {
    --back;
    if (address < back->end) return back->name;
  }
  return nullptr;
}

}  // namespace memtrace::analyzer

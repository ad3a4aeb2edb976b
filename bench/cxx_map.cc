// cxx_map: std::map<std::string, std::vector<int>> fed one million inserts from a recursion ~24
// frames deep, so every operator new/delete (node, key string, vector growth, temporary keys) has a
// realistic C++ call stack under it. Keys are longer than the small-string buffer, so they allocate.
//
//   cxx_map [-n INSERTS] [--keys K] [--depth D]
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

namespace {

using Table = std::map<std::string, std::vector<int>>;

uint64_t Next(uint64_t& state) {
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  return state * 0x2545F4914F6CDD1DULL;
}

long Arg(int argc, char** argv, const char* name, long fallback) {
  for (int i = 1; i + 1 < argc; ++i)
    if (std::strcmp(argv[i], name) == 0) return std::strtol(argv[i + 1], nullptr, 10);
  return fallback;
}

struct Work {
  Table table;
  uint64_t rng = 0x5851F42D4C957F2DULL;
  long keys = 200000;
};

__attribute__((noinline)) void InsertOne(Work& work, long i) {
  char text[48];
  std::snprintf(text, sizeof text, "customer-%010llu-orders",
                static_cast<unsigned long long>(Next(work.rng) % static_cast<uint64_t>(work.keys)));
  std::string key(text);  // > 15 chars: heap allocated, freed at the end of this call
  work.table[key].push_back(static_cast<int>(i));
}

// Recurses `depth` frames before doing `count` inserts, so stacks are deep-ish.
__attribute__((noinline)) void Descend(Work& work, int depth, long first, long count) {
  if (depth > 0) {
    Descend(work, depth - 1, first, count);
    __asm__ volatile("" ::: "memory");  // not a tail call
    return;
  }
  for (long i = first; i < first + count; ++i) InsertOne(work, i);
}

}  // namespace

int main(int argc, char** argv) {
  long inserts = Arg(argc, argv, "-n", 1000000);
  int depth = static_cast<int>(Arg(argc, argv, "--depth", 24));
  Work work;
  work.keys = Arg(argc, argv, "--keys", 200000);
  if (work.keys < 1) work.keys = 1;
  // In batches, so the deep path is re-entered and the outer frames vary a little.
  constexpr long kBatch = 1000;
  for (long first = 0; first < inserts; first += kBatch) {
    long count = inserts - first < kBatch ? inserts - first : kBatch;
    Descend(work, depth - static_cast<int>((first / kBatch) % 4), first, count);
  }
  size_t values = 0;
  for (const auto& entry : work.table) values += entry.second.size();
  std::printf("cxx_map: %ld inserts, %zu keys, %zu values\n", inserts, work.table.size(), values);
  return 0;
}

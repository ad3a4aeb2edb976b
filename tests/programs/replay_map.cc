// replay_map [N]: a C++ workload for `memtrace replay`: N inserts of string keys into a std::map (every
// third insert also erases the smallest key), vectors grown past glibc's mmap threshold and released
// (which raises glibc's dynamic threshold, so later verdicts depend on the order of earlier frees), and
// a realloc chain from 16 bytes to 4 MiB. Prints a checksum so nothing can be elided.
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

int main(int argc, char** argv) {
  long n = argc > 1 ? std::atol(argv[1]) : 20000;
  std::map<std::string, std::string> map;
  unsigned long checksum = 0;
  for (long i = 0; i < n; ++i) {
    std::string key =
        "key-" + std::to_string(i * 7919 % (n + 1)) + std::string(static_cast<size_t>(i % 40), 'x');
    map[key] = std::string(static_cast<size_t>(i % 300), 'v');
    if (i % 3 == 0) map.erase(map.begin());
    if (i % 4000 == 0) {
      std::vector<char> big;
      for (size_t bytes = 4096; bytes <= (size_t{1} << 20) + 4096 * (i / 4000); bytes *= 2) {
        big.resize(bytes);
        big[bytes - 1] = 1;
      }
      checksum += big.size();
    }
  }
  char* chain = nullptr;
  for (size_t bytes = 16; bytes <= (size_t{4} << 20); bytes *= 2) {
    chain = static_cast<char*>(std::realloc(chain, bytes));
    if (!chain) return 1;
    chain[bytes - 1] = 1;
  }
  std::free(chain);
  for (const auto& [key, value] : map) checksum += key.size() + value.size();
  std::printf("replay_map %ld entries %zu checksum %lu\n", n, map.size(), checksum);
  return 0;
}

// unwind_users: a program that unwinds its own stack while memtrace unwinds it too: a C++ exception
// thrown through 12 allocating frames, glibc's backtrace(), and libunwind's unw_backtrace (dlopen'ed,
// as a program using libunwind would). Prints what each saw; the output must not change under the
// preload.
#include <dlfcn.h>
#include <execinfo.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

std::vector<std::unique_ptr<std::string>> keep;

[[gnu::noinline]] int Throwing(int depth) {
  keep.push_back(std::make_unique<std::string>(100 + depth, 'x'));  // allocates in every frame
  if (depth == 0) throw std::runtime_error("bottom reached after " + std::to_string(keep.size()) + " frames");
  int below = Throwing(depth - 1);
  return below + 1;  // not a tail call
}

[[gnu::noinline]] int Backtraced(int depth) {
  if (depth > 0) return Backtraced(depth - 1) + 1;
  void* frames[64];
  int count = backtrace(frames, 64);
  char** names = backtrace_symbols(frames, count);  // allocates
  free(names);
  return count;
}

using UnwBacktrace = int (*)(void**, int);

[[gnu::noinline]] int Unwound(UnwBacktrace unw_backtrace, int depth) {
  if (depth > 0) return Unwound(unw_backtrace, depth - 1) + 1;
  void* frames[64];
  void* block = malloc(32);
  int count = unw_backtrace(frames, 64);
  free(block);
  return count;
}

}  // namespace

int main() {
  for (int round = 0; round < 3; ++round) {
    try {
      Throwing(12);
      std::puts("no exception");
    } catch (const std::exception& e) {
      std::printf("caught: %s\n", e.what());
    }
  }
  keep.clear();
  // Each frame of the recursion is counted; the frames below it (main, libc) are the same each time.
  int shallow = Backtraced(0), deep = Backtraced(10);
  std::printf("backtrace: %d more frames at depth 10\n", deep - shallow - 10);
  void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  if (!library) {
    std::puts("libunwind: not installed");
    return 0;
  }
  auto unw_backtrace = reinterpret_cast<UnwBacktrace>(dlsym(library, "unw_backtrace"));
  int unw_shallow = Unwound(unw_backtrace, 0) - 0, unw_deep = Unwound(unw_backtrace, 10);
  std::printf("unw_backtrace: %d more frames at depth 10\n", unw_deep - unw_shallow - 10);
  return 0;
}

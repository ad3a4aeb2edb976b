// C++ leak sites whose names and lines a symbolizer must get exactly right in an optimized build
// without frame pointers (-O2 -g -fomit-frame-pointer): tests/e2e/test_cxx_stacks.py runs it under
// memtrace and under valgrind and compares each leak's stack with the markers below.
//
// Every allocating line carries a `// LEAK:name` marker, where name says what the test expects of the
// frame on that line (see SITES in the test). The test reads the markers, so lines may move freely.
//
// As in leak_cases.c, the heap left at exit must be the same natively and under valgrind: no stdio
// (output goes through write(2)), pointers to be lost live only in volatile slots that are overwritten
// or in dead frames, and scrub_stack() zeroes the dead stack afterwards.
//
// Prints one line per step; exits 7 so that a changed exit code shows.
#include <string.h>  // strdup
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <vector>

#define NOINLINE [[gnu::noipa]]  // neither inlined nor cloned (a .isra clone would rename it)

namespace sites {

void* volatile g_sink;  // the last pointer handed out; overwritten before exit

void Say(const char* text) {
  if (write(1, text, std::strlen(text)) < 0) _exit(3);
}

// Clears the dead stack below the caller's frame, so no stale copy of a lost pointer survives.
NOINLINE void ScrubStack() {
  volatile char area[64 * 1024];
  std::memset(const_cast<char*>(area), 0, sizeof area);
}

// ---- a class template's member function ------------------------------------------------------------

template <typename T>
struct Pool {
  NOINLINE T* Make(std::size_t n) {
    T* items = new T[n];  // LEAK:template_member
    items[0] = T();       // a use after the call: no tail call, so this frame is on the stack
    return items;
  }
};

// ---- an always_inline helper inside a noinline function --------------------------------------------

[[gnu::always_inline]] inline char* InlinedHelper(std::size_t n) {
  char* p = static_cast<char*>(std::malloc(n));  // LEAK:inlined_helper
  p[0] = 1;
  return p;
}

NOINLINE char* OuterOfInlined(std::size_t n) {
  char* p = InlinedHelper(n);  // LEAK:inlined_caller
  p[1] = 2;
  return p;
}

// ---- a lambda called through std::function -------------------------------------------------------

NOINLINE std::function<void*(std::size_t)>* MakeCallback() {
  // Out of line (std::function's invoker would inline it), so the frame is named by its symbol, as
  // c++filt prints it; inlined, DWARF would give only its DW_AT_name, "operator()".
  return new std::function<void*(std::size_t)>([](std::size_t n) __attribute__((noipa))->void* {
    char* p = static_cast<char*>(std::malloc(n));  // LEAK:lambda
    p[0] = 1;
    return p;
  });
}

NOINLINE void* CallThrough(std::function<void*(std::size_t)>& callback, std::size_t n) {
  char* p = static_cast<char*>(callback(n));  // LEAK:lambda_caller
  p[1] = 2;
  return p;
}

// ---- a leak made before a throw caught two frames up --------------------------------------------

NOINLINE void Thrower(std::size_t n) {
  void* volatile lost = std::malloc(n);  // LEAK:before_throw
  (void)lost;
  throw std::runtime_error("thrown after a leak");
}

NOINLINE void Middle(std::size_t n) {
  Thrower(n);
  Say("not reached\n");
}

NOINLINE int Catcher(std::size_t n) {
  try {
    Middle(n);
  } catch (const std::runtime_error& error) {
    Say("caught: ");
    Say(error.what());
    Say("\n");
    return 1;
  }
  return 0;
}

// ---- operator new[] in a constructor --------------------------------------------------------------

struct Buffer {
  NOINLINE explicit Buffer(std::size_t n) : data(new int[n]) {  // LEAK:constructor_array
    data[0] = 1;
  }
  int* data;
};

NOINLINE Buffer* MakeBuffer(std::size_t n) {
  Buffer* buffer = new Buffer(n);  // LEAK:buffer_object
  buffer->data[1] = 2;
  return buffer;
}

// ---- std::vector growth inside a leaked object -------------------------------------------------

struct Holder {
  std::vector<long> values;
};

NOINLINE Holder* FillHolder(int count) {
  Holder* holder = new Holder;  // LEAK:holder_object
  for (int i = 0; i < count; ++i) {
    holder->values.push_back(i);  // LEAK:vector_growth
  }
  return holder;
}

// ---- an allocation made inside libc (its frame is named from the separate debug file) --------------

NOINLINE char* CopyName() {
  char* copy = strdup("a copy made by libc's strdup");  // LEAK:libc_strdup
  copy[0] = 'A';
  return copy;
}

// One allocation freed again after the last leak. Without it, natively, a copy of the last leaked
// block's address survives somewhere the exit-time scan reads (valgrind, with its own allocator, has
// none) and that block counts as still reachable.
NOINLINE void Settle() {
  void* volatile p = std::malloc(1);
  std::free(p);
}

}  // namespace sites

int main() {
  using namespace sites;
  g_sink = CopyName();  // 29 bytes, definitely lost
  Say("libc strdup\n");
  Pool<long> pool;
  g_sink = pool.Make(10);  // 80 bytes, definitely lost
  Say("template member\n");
  g_sink = OuterOfInlined(33);  // 33 bytes, definitely lost
  Say("inlined helper\n");
  std::function<void*(std::size_t)>* callback = MakeCallback();
  g_sink = CallThrough(*callback, 57);  // 57 bytes, definitely lost
  delete callback;
  Say("lambda\n");
  int caught = Catcher(45);  // 45 bytes, definitely lost
  Say(caught ? "exception caught two frames up\n" : "exception lost\n");
  g_sink = MakeBuffer(25);  // 8 bytes definitely lost, 100 indirectly
  Say("constructor\n");
  g_sink = FillHolder(100);  // 24 bytes definitely lost, 128 longs (1024 bytes) indirectly
  Say("vector growth\n");
  g_sink = nullptr;
  Settle();
  ScrubStack();
  return caught ? 7 : 1;
}

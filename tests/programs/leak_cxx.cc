// C++ containers held by statics at exit -> still reachable (test_leak_classes_vs_valgrind.py).
//
// A static std::string or std::vector is destroyed by exit() before any leak check runs, so the
// statics here are never destroyed: objects placement-new'd into static storage (absl::NoDestructor's
// idiom) and a heap-allocated singleton that is never deleted. Every heap buffer is reached from a
// start pointer: the strings are longer than the small-string buffer.
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

namespace {

template <typename T>
struct NoDestructor {
  alignas(T) unsigned char storage[sizeof(T)];
  template <typename... Args>
  T* Construct(Args&&... args) {
    return new (storage) T(static_cast<Args&&>(args)...);
  }
};

NoDestructor<std::string> g_name;            // in .bss; its buffer on the heap
NoDestructor<std::vector<int>> g_numbers;    // in .bss; its buffer on the heap
std::vector<std::string>* volatile g_table;  // a never-deleted singleton

[[gnu::noinline]] void Fill() {
  g_name.Construct(std::string(100, 'n'));
  std::vector<int>* numbers = g_numbers.Construct();
  for (int i = 0; i < 1000; ++i) numbers->push_back(i);  // regrows: earlier buffers are freed
  auto* table = new std::vector<std::string>;
  table->reserve(4);
  for (int i = 0; i < 4; ++i) table->push_back(std::string(40 + i, 'a' + static_cast<char>(i)));
  g_table = table;
}

[[gnu::noinline]] void Churn() {  // allocates and frees: nothing left behind
  std::vector<std::string> scratch;
  for (int i = 0; i < 50; ++i) scratch.emplace_back(64, 'x');
}

}  // namespace

int main() {
  Fill();
  Churn();
  std::exit(0);
}

#include "preload/real_functions.h"

#include <dlfcn.h>

#include <cstdint>

extern "C" {
// glibc exports its allocator under these names too, which lets the hooks work before dlsym ran.
void* __libc_malloc(size_t);
void* __libc_calloc(size_t, size_t);
void* __libc_realloc(void*, size_t);
void __libc_free(void*);
void* __libc_memalign(size_t, size_t);
void* __libc_valloc(size_t);
void* __libc_pvalloc(size_t);
int __libc_mallopt(int, int);
void* __sbrk(intptr_t);
}

namespace memtrace::preload {

// Constant-initialized: hooks run before any constructor of ours (libstdc++ allocates first).
constinit RealFunctions real = {
    .malloc = __libc_malloc,
    .calloc = __libc_calloc,
    .realloc = __libc_realloc,
    .free = __libc_free,
    .aligned_alloc = __libc_memalign,  // glibc's aligned_alloc is an alias of memalign
    .memalign = __libc_memalign,
    .valloc = __libc_valloc,
    .pvalloc = __libc_pvalloc,
    .mallopt = __libc_mallopt,
    .sbrk = __sbrk,
};

namespace {

bool malloc_is_glibc = true;
char allocator_path[256] = "libc.so.6";

template <typename Fn>
void ResolveNext(Fn*& slot, const char* name) {
  if (void* next = dlsym(RTLD_NEXT, name)) slot = reinterpret_cast<Fn*>(next);
}

}  // namespace

const char* ResolveRealFunctions() {
#define MEMTRACE_RESOLVE(name, ret, params) ResolveNext(real.name, #name);
  MEMTRACE_HOOKED_FUNCTIONS(MEMTRACE_RESOLVE)
#undef MEMTRACE_RESOLVE
  malloc_is_glibc = real.malloc == &__libc_malloc;
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(real.malloc), &info) && info.dli_fname) {
    size_t i = 0;
    for (; info.dli_fname[i] && i + 1 < sizeof allocator_path; ++i) allocator_path[i] = info.dli_fname[i];
    allocator_path[i] = 0;
  }
  return allocator_path;
}

bool RealMallocIsGlibc() { return malloc_is_glibc; }

bool MallocDefinedBeforeUs() { return DefinedBeforeUs("malloc"); }

bool DefinedBeforeUs(const char* symbol) {
  Dl_info info;
  void* first = dlsym(RTLD_DEFAULT, symbol);
  if (!first || !dladdr(first, &info)) return false;
  Dl_info self;
  if (!dladdr(reinterpret_cast<void*>(&DefinedBeforeUs), &self)) return false;
  return info.dli_fbase != self.dli_fbase;
}

}  // namespace memtrace::preload

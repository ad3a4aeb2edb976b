// The module index: FDEs of this program and of libc found for their functions, no module for
// anonymous memory, and modules loaded and unloaded after the first lookup (dlopen without a note:
// found through the loader's dlpi_adds; dlclose with NoteLibrariesChanged: gone, under a new epoch).
#include "preload/eh_frame_index.h"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "preload/cfi_rule.h"

namespace memtrace::preload {
namespace {

[[gnu::noinline]] int SomeFunction(int x) { return x * 3 + 1; }

// The FDE found for `pc` covers it.
void ExpectCovered(uint64_t pc) {
  FdeLocation location;
  ASSERT_EQ(FindFde(pc, &location), FdeSearch::kFound) << std::hex << pc;
  FdeView view;
  ASSERT_TRUE(ParseFde(location.fde, location.limit, &view));
  EXPECT_LE(view.pc_begin, pc);
  EXPECT_LT(pc, view.pc_end);
}

TEST(EhFrameIndex, FindsTheFdesOfThisProgramAndOfLibc) {
  ExpectCovered(reinterpret_cast<uint64_t>(&SomeFunction) + 2);
  ExpectCovered(reinterpret_cast<uint64_t>(&qsort) + 4);
  ExpectCovered(reinterpret_cast<uint64_t>(&mmap) + 1);
  EXPECT_NE(ModuleIndexEpoch(), 0u);
}

TEST(EhFrameIndex, AnonymousMemoryIsInNoModule) {
  void* page = mmap(nullptr, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  ASSERT_NE(page, MAP_FAILED);
  FdeLocation location;
  EXPECT_EQ(FindFde(reinterpret_cast<uint64_t>(page) + 100, &location), FdeSearch::kNoModule);
  munmap(page, 4096);
}

TEST(EhFrameIndex, FollowsDlopenAndDlclose) {
  ModuleIndexEpoch();  // a snapshot without the library
  void* library = dlopen("libunwind.so.8", RTLD_NOW | RTLD_LOCAL);
  ASSERT_NE(library, nullptr);
  void* symbol = dlsym(library, "unw_backtrace");
  ASSERT_NE(symbol, nullptr);
  uint32_t before = ModuleIndexEpoch();
  // No note: the miss sees the loader's counters move and rebuilds.
  ExpectCovered(reinterpret_cast<uint64_t>(symbol) + 4);
  uint32_t loaded = ModuleIndexEpoch();
  EXPECT_NE(loaded, before);
  ASSERT_EQ(dlclose(library), 0);
  NoteLibrariesChanged();
  EXPECT_NE(ModuleIndexEpoch(), loaded);
  Dl_info info;
  if (dladdr(symbol, &info) == 0) {  // really unloaded (nothing else holds it)
    FdeLocation location;
    EXPECT_EQ(FindFde(reinterpret_cast<uint64_t>(symbol) + 4, &location), FdeSearch::kNoModule);
  }
}

}  // namespace
}  // namespace memtrace::preload

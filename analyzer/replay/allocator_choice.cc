#include "analyzer/replay/allocator_choice.h"

#include <unistd.h>

namespace memtrace::replay {

namespace {

struct KnownAllocator {
  const char* name;
  const char* library;
  const char* package;
};

// Debian 12's packages (scripts/install-deps.sh installs them).
constexpr KnownAllocator kKnown[] = {
    {"jemalloc", "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "libjemalloc2"},
    {"tcmalloc", "/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4", "libtcmalloc-minimal4"},
    {"mimalloc", "/usr/lib/x86_64-linux-gnu/libmimalloc.so.2", "libmimalloc2.0"},
};

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

std::string Missing(const KnownAllocator& known) {
  return std::string(known.name) + ": " + known.library + " is not installed (apt-get install " +
         known.package + ")";
}

}  // namespace

bool ResolveAllocators(const std::string& text, std::vector<AllocatorChoice>* choices,
                       std::vector<std::string>* skipped, std::string* error) {
  if (text == "glibc" || text == "all") choices->push_back({"glibc", ""});
  for (const KnownAllocator& known : kKnown) {
    if (text != known.name && text != "all") continue;
    if (Exists(known.library)) {
      choices->push_back({known.name, known.library});
    } else if (text == "all") {
      skipped->push_back(Missing(known));
    } else {
      *error = Missing(known);
      return false;
    }
  }
  if (!choices->empty()) return true;
  if (text.find('/') == std::string::npos && text.find(".so") == std::string::npos) {
    *error =
        "unknown allocator '" + text + "' (glibc, jemalloc, tcmalloc, mimalloc, all, or a path to a .so)";
    return false;
  }
  if (!Exists(text)) {
    *error = "allocator library " + text + " does not exist";
    return false;
  }
  choices->push_back({text, text});
  return true;
}

}  // namespace memtrace::replay

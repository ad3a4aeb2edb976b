#include "preload/proc_maps.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace memtrace::preload {

namespace {

uint64_t ParseHex(const char*& p) {
  uint64_t value = 0;
  for (;; ++p) {
    char c = *p;
    if (c >= '0' && c <= '9') {
      value = value * 16 + static_cast<uint64_t>(c - '0');
    } else if (c >= 'a' && c <= 'f') {
      value = value * 16 + static_cast<uint64_t>(c - 'a' + 10);
    } else {
      return value;
    }
  }
}

void SkipSpaces(const char*& p) {
  while (*p == ' ') ++p;
}

void SkipField(const char*& p) {
  while (*p && *p != ' ' && *p != '\n') ++p;
  SkipSpaces(p);
}

// Reads the whole file into a fresh anonymous mapping (doubling until it fits); returns its text.
char* ReadAll(uint64_t* capacity) {
  for (uint64_t bytes = 256 << 10; bytes <= (uint64_t{1} << 30); bytes *= 4) {
    long map = syscall(SYS_mmap, nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (map < 0 && map > -4096) return nullptr;
    char* buffer = reinterpret_cast<char*>(map);
    int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    uint64_t total = 0;
    while (fd >= 0 && total + 1 < bytes) {
      ssize_t n = read(fd, buffer + total, bytes - 1 - total);
      if (n <= 0) break;
      total += static_cast<uint64_t>(n);
    }
    if (fd >= 0) close(fd);
    if (fd >= 0 && total + 1 < bytes) {
      buffer[total] = 0;
      *capacity = bytes;
      return buffer;
    }
    syscall(SYS_munmap, buffer, bytes);
    if (fd < 0) return nullptr;
  }
  return nullptr;
}

}  // namespace

bool ForEachMapping(void (*visit)(const MapLine& line, void* context), void* context) {
  uint64_t capacity = 0;
  char* text = ReadAll(&capacity);
  if (!text) return false;
  for (const char* p = text; *p;) {
    MapLine line{};
    line.begin = ParseHex(p);
    if (*p == '-') ++p;
    line.end = ParseHex(p);
    SkipSpaces(p);
    line.readable = p[0] == 'r';
    line.writable = p[1] == 'w';
    line.executable = p[2] == 'x';
    line.shared = p[3] == 's';
    SkipField(p);
    line.offset = ParseHex(p);
    SkipSpaces(p);
    SkipField(p);  // device
    while (*p >= '0' && *p <= '9') line.inode = line.inode * 10 + static_cast<uint64_t>(*p++ - '0');
    SkipSpaces(p);
    line.path = p;
    while (*p && *p != '\n') ++p;
    line.path_length = static_cast<uint32_t>(p - line.path);
    if (*p) ++p;
    // The buffer holding this text is ours, not the process's: cut it out (the kernel may have merged
    // it with a neighbouring mapping).
    uint64_t own_begin = reinterpret_cast<uint64_t>(text), own_end = own_begin + capacity;
    if (line.begin < own_end && own_begin < line.end) {
      MapLine below = line, above = line;
      below.end = own_begin;
      above.begin = own_end;
      above.offset += own_end - line.begin;
      if (below.begin < below.end) visit(below, context);
      if (above.begin < above.end) visit(above, context);
      continue;
    }
    visit(line, context);
  }
  syscall(SYS_munmap, text, capacity);
  return true;
}

}  // namespace memtrace::preload

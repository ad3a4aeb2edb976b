// libmemtrace.so is built with hidden visibility; only the hooks are exported.
#pragma once

#define MEMTRACE_EXPORT __attribute__((visibility("default")))

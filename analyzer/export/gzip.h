// gzip compression of an in-memory buffer (zlib), as pprof expects its profiles.
#pragma once

#include <string>
#include <string_view>

namespace memtrace::analyzer {

// Returns false only if zlib fails (out of memory).
bool Gzip(std::string_view input, std::string* output);

}  // namespace memtrace::analyzer

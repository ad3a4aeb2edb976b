// The stacks and modules a trace defines, collected during the pass so reports can print them.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstdint>
#include <string>
#include <vector>

#include "analyzer/trace_pass.h"

namespace memtrace::analyzer {

struct Module {
  uint64_t base = 0;  // load bias: file virtual address + base = run-time address
  uint64_t size = 0;  // extent above base
  std::string path;
  std::string build_id;  // raw bytes
};

class StackStore : public EventConsumer {
 public:
  void Apply(const format::Event& e) override;

  // The frames of stack `id`, innermost first (return addresses), or empty if unknown.
  const std::vector<uint64_t>& Frames(uint32_t id) const;
  const std::vector<Module>& modules() const { return modules_; }
  size_t stack_count() const { return stacks_.size(); }
  // Every stack id defined, ascending.
  std::vector<uint32_t> Ids() const;

 private:
  absl::flat_hash_map<uint32_t, std::vector<uint64_t>> stacks_;
  std::vector<Module> modules_;
};

}  // namespace memtrace::analyzer

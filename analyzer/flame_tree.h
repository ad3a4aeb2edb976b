// Allocated bytes by call path, merged by frame name, for flame graphs. Bounded: after Prune the tree
// keeps at most `max_nodes` nodes (the largest; a parent is never smaller than its children, so the
// kept nodes stay connected) and paths deeper than kMaxDepth are cut.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace memtrace::analyzer {

struct FlameNode {
  std::string name;
  uint64_t bytes = 0;  // bytes allocated on paths through this node (itself and below)
  uint32_t depth = 0;
  std::vector<uint32_t> children;
  absl::flat_hash_map<std::string, uint32_t> child_by_name;
};

class FlameTree {
 public:
  static constexpr size_t kMaxDepth = 128;

  FlameTree();
  // `path` is outermost frame first.
  void Add(const std::vector<std::string>& path, uint64_t bytes);
  void Prune(size_t max_nodes);

  const FlameNode& root() const { return nodes_[0]; }
  const FlameNode& node(uint32_t id) const { return nodes_[id]; }
  size_t size() const { return nodes_.size(); }

 private:
  std::vector<FlameNode> nodes_;  // [0] is the root ("all")
};

}  // namespace memtrace::analyzer

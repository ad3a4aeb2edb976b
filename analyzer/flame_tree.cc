#include "analyzer/flame_tree.h"

#include <algorithm>
#include <numeric>

namespace memtrace::analyzer {

FlameTree::FlameTree() {
  nodes_.emplace_back();
  nodes_[0].name = "all";
}

void FlameTree::Add(const std::vector<std::string>& path, uint64_t bytes) {
  uint32_t at = 0;
  nodes_[0].bytes += bytes;
  for (size_t i = 0; i < path.size() && i < kMaxDepth; ++i) {
    auto [it, inserted] = nodes_[at].child_by_name.try_emplace(path[i], static_cast<uint32_t>(nodes_.size()));
    uint32_t child = it->second;
    if (inserted) {
      nodes_[at].children.push_back(child);
      FlameNode& node = nodes_.emplace_back();
      node.name = path[i];
      node.depth = nodes_[at].depth + 1;
    }
    nodes_[child].bytes += bytes;
    at = child;
  }
}

void FlameTree::Prune(size_t max_nodes) {
  if (nodes_.size() <= max_nodes) return;
  std::vector<uint32_t> order(nodes_.size());
  std::iota(order.begin(), order.end(), 0);
  // Largest first; on a tie the shallower (a parent before its only child), then the older.
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    if (nodes_[a].bytes != nodes_[b].bytes) return nodes_[a].bytes > nodes_[b].bytes;
    if (nodes_[a].depth != nodes_[b].depth) return nodes_[a].depth < nodes_[b].depth;
    return a < b;
  });
  std::vector<bool> keep(nodes_.size(), false);
  for (size_t i = 0; i < max_nodes; ++i) keep[order[i]] = true;
  // Children were appended after their parents, so renumbering in index order keeps parents first.
  std::vector<uint32_t> renumbered(nodes_.size(), UINT32_MAX);
  std::vector<FlameNode> kept;
  for (uint32_t id = 0; id < nodes_.size(); ++id) {
    if (!keep[id]) continue;
    renumbered[id] = static_cast<uint32_t>(kept.size());
    kept.push_back(std::move(nodes_[id]));
  }
  for (FlameNode& node : kept) {
    std::vector<uint32_t> children;
    for (uint32_t child : node.children) {
      if (renumbered[child] != UINT32_MAX) children.push_back(renumbered[child]);
    }
    node.children = std::move(children);
    node.child_by_name.clear();
  }
  nodes_ = std::move(kept);
}

}  // namespace memtrace::analyzer

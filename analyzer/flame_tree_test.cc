#include "analyzer/flame_tree.h"

#include <gtest/gtest.h>

namespace memtrace::analyzer {
namespace {

TEST(FlameTreeTest, MergesPathsByName) {
  FlameTree tree;
  tree.Add({"main", "parse", "malloc"}, 100);
  tree.Add({"main", "parse", "malloc"}, 50);
  tree.Add({"main", "render"}, 10);
  EXPECT_EQ(tree.root().bytes, 160u);
  ASSERT_EQ(tree.root().children.size(), 1u);
  const FlameNode& main = tree.node(tree.root().children[0]);
  EXPECT_EQ(main.name, "main");
  EXPECT_EQ(main.bytes, 160u);
  ASSERT_EQ(main.children.size(), 2u);
  EXPECT_EQ(tree.node(main.children[0]).bytes, 150u);
}

TEST(FlameTreeTest, PruneKeepsTheLargestConnectedNodes) {
  FlameTree tree;
  for (int i = 0; i < 100; ++i) tree.Add({"main", "f" + std::to_string(i), "leaf"}, 1 + i);
  tree.Prune(10);
  ASSERT_EQ(tree.size(), 10u);
  uint64_t reachable = 0;
  std::vector<uint32_t> pending = {0};
  while (!pending.empty()) {
    uint32_t id = pending.back();
    pending.pop_back();
    ++reachable;
    for (uint32_t child : tree.node(id).children) {
      EXPECT_LE(tree.node(child).bytes, tree.node(id).bytes);
      pending.push_back(child);
    }
  }
  EXPECT_EQ(reachable, 10u) << "every kept node hangs from the root";
  EXPECT_EQ(tree.root().bytes, 5050u) << "the root still counts everything";
}

}  // namespace
}  // namespace memtrace::analyzer

#include "analyzer/stack_store.h"

#include <algorithm>

namespace memtrace::analyzer {

void StackStore::Apply(const format::Event& e) {
  if (e.kind == format::RecordKind::kStackDef) {
    stacks_[e.stack_id].assign(e.frames, e.frames + e.frame_count);
  } else if (e.kind == format::RecordKind::kModule) {
    Module module{e.address, e.size, std::string(reinterpret_cast<const char*>(e.bytes), e.byte_count),
                  std::string(reinterpret_cast<const char*>(e.build_id), e.build_id_count)};
    // The preload lists modules at start and at exit: keep each load once.
    for (const Module& known : modules_) {
      if (known.base == module.base && known.path == module.path) return;
    }
    modules_.push_back(std::move(module));
  }
}

const std::vector<uint64_t>& StackStore::Frames(uint32_t id) const {
  static const std::vector<uint64_t> kNone;
  auto it = stacks_.find(id);
  return it == stacks_.end() ? kNone : it->second;
}

std::vector<uint32_t> StackStore::Ids() const {
  std::vector<uint32_t> ids;
  ids.reserve(stacks_.size());
  for (const auto& [id, frames] : stacks_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

}  // namespace memtrace::analyzer

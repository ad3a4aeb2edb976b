// A process-wide cache from PC to its packed FrameRule, so that a hot PC costs a hash probe instead of
// an FDE search and a CFA-program run.
//
// Concurrency contract: lock-free and wait-free, shared by all threads. Each slot is two 64-bit words
// written and read with relaxed atomics: `check` = key ^ rule and `rule`. A reader accepts a slot only
// if check ^ rule == key, so a slot torn by two concurrent writers reads as a miss (the words of two
// different entries pass that test only by coincidence of the key with two rules' XOR; even then the
// result is a wrong frame, never a crash: the unwinder validates every memory read). Writers simply
// overwrite: a lost entry is recomputed on its next miss. The key holds the module-index epoch in its
// top 16 bits, so entries computed before a dlopen/dlclose stop matching. Signal handlers never get here.
//
// Memory: one mmap'ed table of kSlots slots (256 KiB), made on first use; never malloc.
#pragma once

#include <cstdint>

namespace memtrace::preload {

inline constexpr uint64_t kRuleCacheSlots = 1 << 14;

// The cache key for `pc` under module-index epoch `epoch`. x86-64 user addresses fit in 47 bits.
inline uint64_t RuleCacheKey(uint64_t pc, uint32_t epoch) { return pc | static_cast<uint64_t>(epoch) << 48; }

// The packed rule for `key`, or 0 on a miss (packed rules are never 0).
uint64_t LookUpRule(uint64_t key);

// Remembers `packed` (non-zero) for `key`. Does nothing if the table cannot be mapped.
void StoreRule(uint64_t key, uint64_t packed);

// Unmaps the table (tests; a fork child keeps the parent's, which is still valid).
void ResetRuleCache();

}  // namespace memtrace::preload

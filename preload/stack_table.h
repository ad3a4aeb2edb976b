// In-process deduplication of call stacks: each distinct stack gets a small id, and only the first
// occurrence writes its frames into the trace; later events carry just the id.
//
// Concurrency contract: lock-free open addressing over a fixed table of (hash, id) slots. A thread
// claims an empty slot with a compare-and-swap on the hash, then publishes the id; a thread that
// finds the hash waits (boundedly) for the id. Signal handlers never reach here (hooks re-entered from
// a handler pass through). Two different stacks with the same 64-bit hash share an id; at 2^20 stacks
// the chance of that is about 3e-8. Past the table's capacity (2^20 slots, 128 probes) stacks are
// still given ids and written, each occurrence anew: the trace grows, no event loses its stack.
#pragma once

#include <cstdint>

namespace memtrace::preload {

struct StackLookup {
  uint32_t id;  // 0 only when the table could not be mapped; record the event without a stack
  bool is_new;  // the caller must write the stack's frames into the trace
};

// Maps the table (once, at start-up; again in a fork child, whose trace starts with no stacks).
bool ResetStackTable();

// The table's memory, which the leak scan must not take for a root.
void StackTableRange(const void** begin, const void** end);

StackLookup LookUpStack(const uint64_t* frames, uint32_t count);

}  // namespace memtrace::preload

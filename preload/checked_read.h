// Reads of memory the unwinder cannot trust (stack slots found through CFI, a signal's ucontext, a
// guessed frame chain) that never crash the program.
//
// A page is validated with one system call: rt_sigprocmask with an invalid `how` copies the new set
// from the given address before it looks at `how`, so EFAULT means unreadable and EINVAL readable,
// with no effect on the signal mask (and errno untouched: the call is made with inline asm). Pages
// found readable are remembered as one contiguous range per thread, which only ever grows from the
// page of the stack pointer an unwind started at (`anchor`) and is dropped by the caller whenever an
// unwind starts with the stack pointer outside it: so it spans the running stack, whose pages above
// the stack pointer cannot be unmapped while the thread runs. Reads elsewhere (an alternate signal
// stack, a guessed frame) are validated each time. A range grown past the top of the stack into a
// neighbouring mapping (only bad CFI reads there) is the one case left where a page could go away.
//
// Concurrency contract: the range is initial-exec TLS owned by its thread; nothing is shared.
#pragma once

#include <cstdint>

namespace memtrace::preload {

struct ValidatedRange {
  uint64_t low;  // [low, high): pages found readable; empty when low == high
  uint64_t high;
};

extern __thread ValidatedRange validated_range __attribute__((tls_model("initial-exec")));

// True if the 8 bytes at `page` can be read.
bool PageReadable(uint64_t page);

// Validates the page(s) of `address`, grows the range if they join it (or the page of `anchor`,
// when the range is empty), and reads the word. False if unreadable.
bool ReadWordSlow(uint64_t address, uint64_t* value, uint64_t anchor);

// A checked read anchored at the caller's own stack: the range is dropped first if it does not
// hold the current stack pointer.
bool ReadWord(uint64_t address, uint64_t* value);

}  // namespace memtrace::preload

// Thread parking: stops every other thread of the process for the exit-time leak scan and captures
// its general-purpose registers and stack pointer, as valgrind sees every thread's registers.
//
// How a thread is parked: the scanning thread lists /proc/self/task (getdents64, no malloc) and sends
// each other thread a realtime signal with rt_tgsigqueueinfo (tgkill plus a payload: SI_QUEUE, our
// pid and a cookie naming the session and the thread's slot, so a signal the program queues itself is
// never mistaken for ours). The signal's handler is memtrace's fatal-signal handler, which the program
// sees as SIG_DFL (see fatal_signals.h), so any realtime signal the program left at its default can
// carry the request; the handler passes it to ParkIfRequested first. ParkIfRequested copies the
// interrupted context's registers into the thread's slot (scratch from mmap), publishes them with a
// release store, and waits on a futex until ResumeThreads. A thread that blocks the signal (its
// /proc SigBlk says so; it is never sent one), is gone by the time it is sent one, or has not answered
// when kAnswerTimeoutNs pass with no answer from any thread is skipped and counted: parking never hangs.
// Threads created while parking runs are found by listing the task directory again (a few passes).
//
// Interrupted system calls: the handler is installed with SA_RESTART, so read/write on pipes, sockets
// without timeouts and terminals, wait4, open of a FIFO, flock/fcntl(F_SETLKW) and futex FUTEX_WAIT
// (so pthread_mutex/cond waits) restart unseen. signal(7) lists the calls that fail with EINTR after
// any handler, SA_RESTART or not: nanosleep/clock_nanosleep/usleep (sleep returns the time left),
// poll/ppoll/select/pselect/epoll_wait, sigtimedwait/sigwaitinfo/sigsuspend/pause, socket calls with
// SO_RCVTIMEO/SO_SNDTIMEO, semop/semtimedop, msgrcv/msgsnd, io_getevents, inotify reads (before 3.8).
// A parked thread in one of those sees EINTR once it is resumed, in the moments left before the
// process ends (the scan runs at exit or at a fatal signal). Programs retry those calls on EINTR as a
// rule, since any signal (SIGCHLD, SIGWINCH, a profiler's SIGPROF) does the same to them; we accept it.
//
// Concurrency contract: one parking session at a time (the scan runs once, from the thread that
// claimed the process's end). ParkIfRequested is async-signal-safe and runs on the parked thread. The
// slots are mapped for the session and unmapped by ResumeThreads once no handler is between its check
// of the session and its last write to a slot; a request that arrives after its session was resumed
// (the thread had the signal blocked until then) touches nothing and returns at once.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>

namespace memtrace::preload {

// No answer from any thread for this long: the threads that have not answered yet are skipped.
inline constexpr uint64_t kAnswerTimeoutNs = 100'000'000;

#if defined(__x86_64__)
inline constexpr int kSavedRegisters = 17;  // r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip
#elif defined(__aarch64__)
inline constexpr int kSavedRegisters = 33;  // x0..x30, sp, pc
#else
#error "thread parking knows the register layout of x86-64 and AArch64 only"
#endif

// What a parked thread left: its registers (each a candidate pointer for the scan) and stack pointer.
struct ParkedThread {
  enum State : uint32_t { kEmpty = 0, kRequested, kParked, kSkipped };
  uint32_t tid = 0;
  std::atomic<uint32_t> state{kEmpty};  // kParked is stored with release once the fields below are set
  uint32_t in_hook = 0;                 // the thread was inside a memtrace hook when it was parked
  uint32_t pad = 0;
  uint64_t stack_pointer = 0;
  uint64_t registers[kSavedRegisters] = {};
};

struct ParkingResult {
  ParkedThread* threads = nullptr;  // `listed` slots; those in state kParked were parked
  uint32_t listed = 0;
  uint32_t parked = 0;
  uint32_t skipped = 0;  // blocked the signal, exited meanwhile, did not answer, or no signal to use
  uint32_t session = 0;
  uint64_t parking_ns = 0;  // from the first listing until the last answer (or timeout)
  bool any_in_hook = false;
  // Every other thread is parked outside memtrace's hooks or gone, and a last listing found no new
  // one: nothing can change the heap or the mappings until ResumeThreads.
  bool all_stopped = false;

  // The range of memtrace's own slot memory, for the scan to leave out of its roots.
  const void* memory_begin = nullptr;
  const void* memory_end = nullptr;
};

// Parks every other thread using `signo` (a signal whose handler calls ParkIfRequested, unblocked in
// the threads that are to be parked); with signo 0 no thread is parked and all are counted skipped.
// Async-signal-safe; takes memory from mmap only.
ParkingResult ParkOtherThreads(int signo);

// Lets every parked thread of `result`'s session go on, and gives the slots back (result.threads is
// then invalid).
void ResumeThreads(const ParkingResult& result);

// Called first by the signal handler: returns false if `info` is not a parking request (the handler
// then does what it does for any signal). For a request of the current session, saves the registers of
// `context` (a ucontext_t*), publishes them, and waits until ResumeThreads. `in_hook`: the thread was
// inside a memtrace hook (its last allocation or release may not be recorded yet).
bool ParkIfRequested(int signo, const siginfo_t* info, void* context, bool in_hook);

}  // namespace memtrace::preload

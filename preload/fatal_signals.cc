#include "preload/fatal_signals.h"

#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

#include "preload/export.h"
#include "preload/hook_guard.h"
#include "preload/process_events.h"
#include "preload/thread_parking.h"
#include "preload/thread_state.h"
#include "preload/trace_writer.h"

namespace memtrace::preload {

namespace {

using Handler = void (*)(int);
using SigactionFunction = int (*)(int, const struct sigaction*, struct sigaction*);
using SignalFunction = Handler (*)(int, Handler);

constexpr int kSignalLimit = 65;  // signals are 1..64 on Linux

// glibc's functions, found with dlsym on first use. InstallFatalSignalHandlers resolves sigaction
// before the handler can run, so the handler never calls dlsym.
std::atomic<SigactionFunction> next_sigaction{nullptr};

template <typename Fn>
Fn Next(std::atomic<Fn>& slot, const char* name) {
  Fn fn = slot.load(std::memory_order_acquire);
  if (!fn) {
    fn = reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
    slot.store(fn, std::memory_order_release);
  }
  return fn;
}

int NextSigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  SigactionFunction fn = Next(next_sigaction, "sigaction");
  if (!fn) {
    errno = ENOSYS;
    return -1;
  }
  return fn(signo, act, old);
}

// Signals whose default action ends the process (with or without a core dump) and that a handler can
// catch. glibc keeps the first two realtime signals for itself; SIGRTMIN is the first it leaves free.
bool EndsProcessByDefault(int signo) {
  switch (signo) {
    case SIGHUP:
    case SIGINT:
    case SIGQUIT:
    case SIGILL:
    case SIGTRAP:
    case SIGABRT:
    case SIGBUS:
    case SIGFPE:
    case SIGUSR1:
    case SIGSEGV:
    case SIGUSR2:
    case SIGPIPE:
    case SIGALRM:
    case SIGTERM:
    case SIGSTKFLT:
    case SIGXCPU:
    case SIGXFSZ:
    case SIGVTALRM:
    case SIGPROF:
    case SIGIO:
    case SIGPWR:
    case SIGSYS: return true;
    default: return signo >= SIGRTMIN && signo <= SIGRTMAX && signo < kSignalLimit;
  }
}

// Signals a faulting instruction raises. They stay unblocked while memtrace's handler runs, so a
// fault inside the handler comes back to it (and ends the process, see OnFatalSignal) instead of
// being turned into a plain SIGSEGV death by the kernel.
bool IsFault(int signo) {
  return signo == SIGSEGV || signo == SIGBUS || signo == SIGILL || signo == SIGFPE || signo == SIGTRAP ||
         signo == SIGSYS;
}

// Managed signals get memtrace's handler in place of SIG_DFL; only while the tracer writes a trace.
bool Managed(int signo) {
  return signo > 0 && signo < kSignalLimit && EndsProcessByDefault(signo) &&
         tracer_state.load(std::memory_order_acquire) == TracerState::kReady;
}

// The action sigaction reports while memtrace's handler stands in for SIG_DFL: the program's own
// SIG_DFL action (flags and mask) as the kernel stored it, or the kernel's initial one (all zero).
// Concurrency contract: written by sigaction calls for the same signal, which race in an untraced
// program too; a torn read can only mix two SIG_DFL actions of the program.
struct sigaction reported_default[kSignalLimit];

// The signal a thread is dying from, for a second fault raised while its end is written.
std::atomic<int> ending_signal{0};

void OnFatalSignal(int signo, siginfo_t* info, void* context);

bool IsOurs(const struct sigaction& action) {
  return reinterpret_cast<void*>(action.sa_sigaction) == reinterpret_cast<void*>(&OnFatalSignal);
}

bool IsOurs(Handler handler) {
  return reinterpret_cast<void*>(handler) == reinterpret_cast<void*>(&OnFatalSignal);
}

struct sigaction OurAction() {
  struct sigaction action = {};
  action.sa_sigaction = OnFatalSignal;
  // No SA_ONSTACK: the end records and the leak scan need more stack than a program's alternate
  // signal stack may have; a stack overflow therefore still ends the process untraced, as before.
  action.sa_flags = SA_SIGINFO | SA_RESTART;
  sigfillset(&action.sa_mask);  // nothing else interrupts the end...
  for (int signo = 1; signo < kSignalLimit; ++signo) {
    if (IsFault(signo)) sigdelset(&action.sa_mask, signo);  // ...but a fault inside it must reach us
  }
  return action;
}

// Puts memtrace's handler in place of a SIG_DFL the program just asked for, and remembers the
// program's action as the kernel keeps it (flags, mask) to report it later.
void ReplaceDefault(int signo) {
  struct sigaction ours = OurAction();
  struct sigaction program_default;
  if (NextSigaction(signo, &ours, &program_default) != 0 || IsOurs(program_default)) return;
  if (program_default.sa_handler == SIG_DFL) {
    reported_default[signo] = program_default;
  } else {
    NextSigaction(signo, &program_default, nullptr);  // another thread set an action meanwhile: keep it
  }
}

void Kill(int signo) { syscall(SYS_tgkill, syscall(SYS_getpid), CurrentTid(), signo); }

void RestoreDefault(int signo) {
  struct sigaction default_action = {};
  default_action.sa_handler = SIG_DFL;
  NextSigaction(signo, &default_action, nullptr);
}

// Ends the process now, by `signo` with its default action, from inside the handler.
[[noreturn]] void DieNow(int signo) {
  RestoreDefault(signo);
  Kill(signo);
  sigset_t only;
  sigemptyset(&only);
  sigaddset(&only, signo);
  syscall(SYS_rt_sigprocmask, SIG_UNBLOCK, &only, nullptr, _NSIG / 8);
  // Unreachable unless another thread put a handler back in the meantime: SIGKILL cannot be caught.
  syscall(SYS_tgkill, syscall(SYS_getpid), CurrentTid(), SIGKILL);
  __builtin_unreachable();
}

// Another thread is writing the end of a process killed by a signal and will end it.
[[noreturn]] void WaitForTheEnd() {
  sigset_t all;
  sigfillset(&all);
  syscall(SYS_rt_sigprocmask, SIG_BLOCK, &all, nullptr, _NSIG / 8);
  for (;;) {
    timespec nap{1, 0};
    syscall(SYS_nanosleep, &nap, nullptr);
  }
}

// Async-signal-safe: no locks, no malloc (the end writer and the leak scan take memory from mmap),
// errno preserved. Runs on the thread the kernel chose; other threads keep running meanwhile.
void OnFatalSignal(int signo, siginfo_t* info, void* context) {
  // The leak scan's request to park this thread arrives on a realtime signal the program left at
  // SIG_DFL, that is, on this handler (see thread_parking.h).
  // While parked, the writer's delta state must not hold the address of the thread's latest block:
  // the scan would take it for a pointer and call a lost block reachable. Kept inverted meanwhile.
  uint64_t last_address = ~thread_state.deltas.last_address;
  thread_state.deltas.last_address = 0;
  bool parked = ParkIfRequested(signo, info, context, thread_state.depth > 0);
  thread_state.deltas.last_address = ~last_address;
  if (parked) return;
  int saved_errno = errno;
  // A vfork child shares our memory, and a process whose tracer stopped has no trace to finish.
  bool ours = tracer_state.load(std::memory_order_acquire) == TracerState::kReady &&
              static_cast<uint32_t>(syscall(SYS_getpid)) == TracedPid();
  if (ours) {
    switch (ClaimEnd(/*signal=*/true)) {
      case EndClaim::kClaimed:
        ending_signal.store(signo, std::memory_order_relaxed);
        WriteSignalEnd(signo, __builtin_frame_address(0));
        break;
      case EndClaim::kThisThread: {
        // A fault while this thread writes an end (or a signal interrupting its exit-time end): give
        // up, leaving the trace readable up to its last whole record, and die as untraced.
        int original = ending_signal.load(std::memory_order_relaxed);
        DieNow(original ? original : signo);
      }
      case EndClaim::kSignalElsewhere: WaitForTheEnd();
      case EndClaim::kExitElsewhere: break;  // the process is exiting: the signal ends it as untraced
    }
  }
  // Die by the same signal with its default action, so the wait status (signal number, core dump)
  // is the untraced one. The signal is blocked until this handler returns; returning restores the
  // interrupted context, so a core dump shows the faulting instruction's registers.
  RestoreDefault(signo);
  Kill(signo);
  errno = saved_errno;
}

// After a signal() family call made `requested` the disposition of `signo` and returned `previous`.
Handler AfterSimpleSet(int signo, Handler requested, Handler previous) {
  int saved_errno = errno;
  if (previous != SIG_ERR && requested == SIG_DFL && Managed(signo)) ReplaceDefault(signo);
  errno = saved_errno;
  return IsOurs(previous) ? SIG_DFL : previous;
}

int InterposedSigaction(int signo, const struct sigaction* act, struct sigaction* old) {
  if (act && act->sa_handler == SIG_DFL && Managed(signo)) {
    struct sigaction previous;
    // The program's SIG_DFL goes in first so the kernel keeps its flags and mask exactly as untraced;
    // ours replaces it at once (a signal in between ends the process untraced).
    int result = NextSigaction(signo, act, &previous);
    if (result != 0) return result;
    if (old) *old = IsOurs(previous) ? reported_default[signo] : previous;  // before it is replaced
    int saved_errno = errno;
    ReplaceDefault(signo);
    errno = saved_errno;
    return 0;
  }
  int result = NextSigaction(signo, act, old);
  if (result == 0 && old && signo > 0 && signo < kSignalLimit && IsOurs(*old)) *old = reported_default[signo];
  return result;
}

std::atomic<SignalFunction> next_signal{nullptr};
std::atomic<SignalFunction> next_bsd_signal{nullptr};
std::atomic<SignalFunction> next_sysv_signal{nullptr};
std::atomic<SignalFunction> next_sigset{nullptr};

Handler Forward(std::atomic<SignalFunction>& slot, const char* name, int signo, Handler handler) {
  SignalFunction fn = Next(slot, name);
  if (!fn) {
    errno = ENOSYS;
    return SIG_ERR;
  }
  return AfterSimpleSet(signo, handler, fn(signo, handler));
}

}  // namespace

int ParkingSignal() {
  if (tracer_state.load(std::memory_order_acquire) != TracerState::kReady) return 0;
  for (int signo = SIGRTMAX; signo >= SIGRTMIN; --signo) {
    if (signo >= kSignalLimit) continue;
    struct sigaction current;
    if (NextSigaction(signo, nullptr, &current) == 0 && IsOurs(current)) return signo;
  }
  return 0;
}

void InstallFatalSignalHandlers() {
  struct sigaction ours = OurAction();
  for (int signo = 1; signo < kSignalLimit; ++signo) {
    if (!EndsProcessByDefault(signo)) continue;
    struct sigaction current;
    if (NextSigaction(signo, nullptr, &current) != 0 || current.sa_handler != SIG_DFL) continue;
    reported_default[signo] = current;
    NextSigaction(signo, &ours, nullptr);
  }
}

}  // namespace memtrace::preload

using namespace memtrace::preload;

extern "C" {

MEMTRACE_EXPORT int sigaction(int signo, const struct sigaction* act, struct sigaction* old) noexcept {
  return InterposedSigaction(signo, act, old);
}

MEMTRACE_EXPORT int __sigaction(int signo, const struct sigaction* act, struct sigaction* old) noexcept {
  return InterposedSigaction(signo, act, old);
}

MEMTRACE_EXPORT Handler signal(int signo, Handler handler) noexcept {
  return Forward(next_signal, "signal", signo, handler);
}

MEMTRACE_EXPORT Handler ssignal(int signo, Handler handler) noexcept {
  return Forward(next_signal, "signal", signo, handler);
}

MEMTRACE_EXPORT Handler bsd_signal(int signo, Handler handler) noexcept {
  return Forward(next_bsd_signal, "bsd_signal", signo, handler);
}

MEMTRACE_EXPORT Handler sysv_signal(int signo, Handler handler) noexcept {
  return Forward(next_sysv_signal, "sysv_signal", signo, handler);
}

MEMTRACE_EXPORT Handler __sysv_signal(int signo, Handler handler) noexcept {
  return Forward(next_sysv_signal, "sysv_signal", signo, handler);
}

MEMTRACE_EXPORT Handler sigset(int signo, Handler handler) noexcept {
  return Forward(next_sigset, "sigset", signo, handler);
}

}  // extern "C"

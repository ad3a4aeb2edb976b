// Fatal signals: the preload notes in the trace how a process died from a signal it could catch
// (SIGSEGV, abort's SIGABRT, SIGTERM, ...) and then lets it die exactly as it would have untraced.
//
// memtrace is a guest in the program's signal dispositions. At start-up it installs its handler only
// for signals whose default action ends the process and whose disposition is still SIG_DFL. The
// program never sees it: sigaction and the signal() family report it as SIG_DFL, a handler or SIG_IGN
// the program installs replaces it, and a SIG_DFL the program installs puts it back (reported as that
// SIG_DFL). The interposers keep no state of their own beyond the SIG_DFL action to report: they ask
// the kernel, so dispositions changed by glibc's internal calls (abort, system, sigignore) stay right.
// Signals whose default is to ignore, stop or continue (SIGCHLD, SIGWINCH, SIGURG, SIGTSTP, SIGCONT)
// and glibc's internal realtime signals are never touched; SIGKILL and SIGSTOP cannot be caught.
// The exit-time leak scan sends one of the realtime signals memtrace handles, with a payload of its
// own, to park the other threads: the handler recognises it and never lets the program see it.
//
// What stays different from an untraced run: a handler installed with raw rt_sigaction system calls
// (not through glibc) sees memtrace's handler as the old action; a SA_RESETHAND handler of the
// program, once run, leaves a true SIG_DFL behind (that signal then ends the process untraced).
#pragma once

namespace memtrace::preload {

// Installs memtrace's handler on every fatal-by-default signal still at SIG_DFL. Called once by
// InitializeTracer, when the writer is ready.
void InstallFatalSignalHandlers();

// A realtime signal whose action is still memtrace's handler (the program never set one for it, so
// it never sees it), for parking threads (thread_parking.h); SIGRTMAX first, since programs tend to
// take theirs from SIGRTMIN up. 0 if the program set an action for every one. Async-signal-safe.
int ParkingSignal();

}  // namespace memtrace::preload

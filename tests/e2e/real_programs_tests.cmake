# Proof on programs no one here wrote (python3, perl, bash, git, gcc, sort, gzip, tar, make, ...):
# output, exit code, complete traces, call counts against heaptrack's, break and mmap counts against
# strace's, and `maps --verify`. Plus the process and thread robustness checks: 64 threads, an
# allocating signal handler, and every way a process can end.
find_package(Threads REQUIRED)

memtrace_test_program(robust_threads64 SOURCES programs/robust_threads64.c LIBRARIES Threads::Threads OPTIONS -O2)
memtrace_test_program(robust_signal_alloc SOURCES programs/robust_signal_alloc.c OPTIONS -O2)
memtrace_test_program(robust_end SOURCES programs/robust_end.c LIBRARIES Threads::Threads OPTIONS -O2)

memtrace_e2e_test(test_real_programs)            # 14 real programs: traced = untraced, = strace, maps verify
memtrace_e2e_test(test_real_programs_heaptrack)  # their allocation calls = heaptrack's (slow: heaptrack)
memtrace_e2e_test(test_process_robustness)  # 64 threads, allocating signal handler, kill/abort/segv/_exit/exit
memtrace_test_program(fatal_signal SOURCES programs/fatal_signal.c OPTIONS -O0 -g)
memtrace_e2e_test(test_fatal_signals)  # SIGSEGV/abort/SIGTERM under plain LD_PRELOAD: status, end, leaks = valgrind

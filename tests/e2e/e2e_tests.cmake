# End-to-end tests: Python unittest modules in tests/e2e that run the programs in tests/programs under
# the preload and compare memtrace's account with the kernel's (strace) and with the programs' own.
memtrace_e2e_test(test_threshold_vs_strace)  # heap/mmap verdicts; mmapped chunks = strace's mmap/munmap
memtrace_e2e_test(test_brk_vs_strace)        # break moves, initial and final break = strace's brk calls
memtrace_e2e_test(test_threads)              # cross-thread frees: complete, consistent, exact counts
memtrace_e2e_test(test_bad_input)            # one-line errors; truncated and SIGKILLed traces still read
memtrace_e2e_test(test_run_command)          # `memtrace run` keeps stdout, stdin, exit code
memtrace_e2e_test(test_behaviour_unchanged)  # errno and output identical traced and untraced
memtrace_e2e_test(test_leaks)                # leaky's known leaks, nothing else
memtrace_e2e_test(test_pack)                  # packed traces: same output as raw, damage is one error

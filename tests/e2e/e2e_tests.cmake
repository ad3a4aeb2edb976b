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

# Mappings libc makes on its own (locale files, gconv cache) and raw-syscall mappings: found by the
# snapshots taken after setlocale/iconv_open and by the periodic check, so the exit verify is clean.
memtrace_test_program(libc_mappings SOURCES programs/libc_mappings.c OPTIONS -O2)
memtrace_e2e_test(test_libc_mappings)

# vfork children's calls attributed to them in the parent's trace, posix_spawn's transient stack;
# counts and mappings against strace -f.
memtrace_e2e_test(test_vfork_spawn)

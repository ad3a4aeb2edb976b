# leak-class tests against valgrind: memtrace_test_program(...) and memtrace_e2e_test(...)
#
# The programs are built -O0 -g so that pointers stay in memory (see the comments in the sources) and
# valgrind's loss records name their lines.
find_package(Threads REQUIRED)

memtrace_test_program(leak_cases SOURCES programs/leak_cases.c LIBRARIES Threads::Threads OPTIONS -O0 -g)
memtrace_test_program(leak_cxx SOURCES programs/leak_cxx.cc OPTIONS -O0 -g)
# Not run by ctest: the ~1 GiB / 10M-block scale check (tests/e2e/leak_scale.py, by hand).
memtrace_test_program(leak_scale SOURCES programs/leak_scale.c OPTIONS -O0 -g)

memtrace_e2e_test(test_leak_classes_vs_valgrind)  # the four leak classes = valgrind memcheck's

# Threads still running at exit: the scan parks them to see their registers and live stacks.
memtrace_test_program(parked_threads SOURCES programs/parked_threads.c LIBRARIES Threads::Threads OPTIONS -O2 -g)
memtrace_e2e_test(test_parked_threads)  # registers, live stacks, blocked calls, skipped threads vs valgrind

# leak-class tests against valgrind: memtrace_test_program(...) and memtrace_e2e_test(...)

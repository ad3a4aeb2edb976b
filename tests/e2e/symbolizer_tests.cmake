# Symbolization end to end: C++ leak sites in an optimized build without frame pointers, named and
# located exactly (tests/e2e/test_cxx_stacks.py), against addr2line, nm/c++filt and valgrind.
memtrace_test_program(leak_cxx_sites SOURCES programs/leak_cxx_sites.cc OPTIONS -O2 -g -fomit-frame-pointer)

memtrace_e2e_test(test_cxx_stacks)

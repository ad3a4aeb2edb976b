# memtrace_test_program(NAME SOURCES ...)

# Unit tests: memtrace_unit_test(NAME SOURCES ... LIBRARIES ...)

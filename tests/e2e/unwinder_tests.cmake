# memtrace's own CFI unwinder against libunwind: every stack of the test programs and of real
# programs unwound both ways (MEMTRACE_UNWIND_CHECK) with no difference; programs that unwind
# themselves (C++ exceptions, backtrace(), unw_backtrace) behave the same traced; -O2 code without
# frame pointers gets full stacks.
memtrace_test_program(unwind_users SOURCES programs/unwind_users.cc LIBRARIES ${CMAKE_DL_LIBS} OPTIONS -O2)
memtrace_test_program(deep_nofp SOURCES programs/deep_nofp.c OPTIONS -O2 -fomit-frame-pointer)

memtrace_e2e_test(test_unwinder)

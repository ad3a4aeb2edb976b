# memtrace's own CFI unwinder against libunwind: every stack of the test programs and of real
# programs unwound both ways (MEMTRACE_UNWIND_CHECK) with no difference; programs that unwind
# themselves (C++ exceptions, backtrace(), unw_backtrace) behave the same traced; -O2 code without
# frame pointers gets full stacks.
memtrace_test_program(unwind_users SOURCES programs/unwind_users.cc LIBRARIES ${CMAKE_DL_LIBS} OPTIONS -O2)
memtrace_test_program(deep_nofp SOURCES programs/deep_nofp.c OPTIONS -O2 -fomit-frame-pointer)

memtrace_e2e_test(test_unwinder)

# Two libraries for dl_cycle, loaded and unloaded in turn (the unwinder must drop a closed one's tables).
foreach(variant 1 2)
  add_library(dl_cycle_lib${variant} MODULE programs/dl_cycle_lib.c)
  math(EXPR pad "16 << (2 * (${variant} - 1))")
  target_compile_definitions(dl_cycle_lib${variant} PRIVATE DL_CYCLE_PAD=${pad})
  target_compile_options(dl_cycle_lib${variant} PRIVATE -O2 -fomit-frame-pointer -Wall -Wextra -Werror)
  set_target_properties(dl_cycle_lib${variant} PROPERTIES PREFIX "" OUTPUT_NAME dl_cycle_lib${variant}
    LIBRARY_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests/programs)
endforeach()
memtrace_test_program(dl_cycle SOURCES programs/dl_cycle.c LIBRARIES ${CMAKE_DL_LIBS} Threads::Threads OPTIONS -O2)
add_dependencies(program_dl_cycle dl_cycle_lib1 dl_cycle_lib2)

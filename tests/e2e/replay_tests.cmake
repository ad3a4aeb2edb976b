# memtrace replay and time travel (--at): real traces replayed under glibc and other allocators.
memtrace_test_program(replay_map SOURCES programs/replay_map.cc OPTIONS -O2)
memtrace_test_program(malloc_tuning SOURCES programs/malloc_tuning.c OPTIONS -O2)
memtrace_e2e_test(test_replay)       # fidelity under glibc (python, C++, cc1, mallopt/trim/sbrk), syscall counts vs strace, allocators, threads, bad input
memtrace_e2e_test(test_time_travel)  # summary/leaks --at ns|s|%|peak

memtrace_unit_test(time_point_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/time_point_test.cc
  LIBRARIES memtrace_analysis)
memtrace_unit_test(op_stream_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/replay/op_stream_test.cc
  LIBRARIES memtrace_codec)

memtrace_unit_test(syscall_counters_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/replay/syscall_counters_test.cc
          ${PROJECT_SOURCE_DIR}/analyzer/replay/syscall_counters.cc
  LIBRARIES Threads::Threads)

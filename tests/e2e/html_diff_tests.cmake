# `memtrace html` (rendered by headless Chromium) and `memtrace diff`, on a program whose allocations
# scale with its argument at known sites.
memtrace_test_program(alloc_phases SOURCES programs/alloc_phases.c OPTIONS -O0 -g)

memtrace_e2e_test(test_html_report)  # the page renders without script errors and shows summary's numbers
memtrace_e2e_test(test_diff)         # grown sites and new leaks between runs; --fail-above exit codes

memtrace_unit_test(time_series_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/time_series_test.cc
  LIBRARIES memtrace_analysis)
memtrace_unit_test(flame_tree_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/flame_tree_test.cc
  LIBRARIES memtrace_analysis)

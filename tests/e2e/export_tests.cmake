# memtrace export: pprof (read by `go tool pprof`), chrome (counters = summary), folded, massif (read
# by ms_print), json; progress stays off a non-terminal stderr; chrome mapping slices, loaded by the DevTools
# Performance panel's trace engine in headless Chromium. Plus the units behind them.
find_package(Threads REQUIRED)

memtrace_test_program(export_sites SOURCES programs/export_sites.c LIBRARIES Threads::Threads OPTIONS -O0 -g)

memtrace_unit_test(export_units_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/export/counter_sampler_test.cc
          ${PROJECT_SOURCE_DIR}/analyzer/export/slice_lanes_test.cc
          ${PROJECT_SOURCE_DIR}/analyzer/mapping_lifetimes_test.cc
          ${PROJECT_SOURCE_DIR}/analyzer/maps_timeline_test.cc
          ${PROJECT_SOURCE_DIR}/analyzer/progress_test.cc
  LIBRARIES memtrace_analysis util)

memtrace_e2e_test(test_export)
memtrace_e2e_test(test_chrome_export)

# Unit tests: memtrace_unit_test(NAME SOURCES ... LIBRARIES ...)

# Builds complete in-memory traces for reader tests, so they need neither the preload nor a traced process.
add_library(memtrace_test_support STATIC ${PROJECT_SOURCE_DIR}/tests/support/trace_builder.cc)
target_link_libraries(memtrace_test_support PUBLIC memtrace_codec)
memtrace_strict(memtrace_test_support)

# ---- format/ ----
memtrace_unit_test(varint_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/varint_test.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(heap_call_codec_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/heap_call_codec_test.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(record_codec_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/record_codec_test.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(trace_reader_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/trace_reader_test.cc
  LIBRARIES memtrace_reader memtrace_test_support)
memtrace_unit_test(trace_reader_errors_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/trace_reader_errors_test.cc
  LIBRARIES memtrace_reader memtrace_test_support)
memtrace_unit_test(chunk_split_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/chunk_split_test.cc
  LIBRARIES memtrace_reader memtrace_test_support)
memtrace_unit_test(trace_packer_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/trace_packer_test.cc
  LIBRARIES memtrace_reader memtrace_test_support)

# The fuzz target's own source, replayed over the seed corpus and fixed mutations on any compiler.
set(MEMTRACE_TRACE_READER_CORPUS ${PROJECT_SOURCE_DIR}/tests/fuzz_corpus/trace_reader)
memtrace_unit_test(trace_reader_fuzzer_replay_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/trace_reader_fuzzer_replay_test.cc
          ${PROJECT_SOURCE_DIR}/format/trace_reader_fuzzer.cc
  LIBRARIES memtrace_reader memtrace_test_support)
target_compile_definitions(trace_reader_fuzzer_replay_test PRIVATE
  MEMTRACE_FUZZ_REPLAY MEMTRACE_FUZZ_CORPUS_DIR="${MEMTRACE_TRACE_READER_CORPUS}")

# The split form's fuzz target, replayed over seeds split from built chunks and mutations of them.
memtrace_unit_test(chunk_split_fuzzer_replay_test
  SOURCES ${PROJECT_SOURCE_DIR}/format/chunk_split_fuzzer_replay_test.cc
          ${PROJECT_SOURCE_DIR}/format/chunk_split_fuzzer.cc
  LIBRARIES memtrace_reader memtrace_test_support)
target_compile_definitions(chunk_split_fuzzer_replay_test PRIVATE MEMTRACE_FUZZ_REPLAY)

# libFuzzer target (clang only): run as
#   build-fuzz/tests/trace_reader_fuzzer -max_total_time=60 CORPUS_COPY tests/fuzz_corpus/trace_reader
# The reader is compiled into it with the same instrumentation so coverage guides into the parser.
if(MEMTRACE_BUILD_FUZZERS)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "MEMTRACE_BUILD_FUZZERS needs clang (configure with CXX=clang++)")
  endif()
  add_executable(trace_reader_fuzzer
    ${PROJECT_SOURCE_DIR}/format/trace_reader_fuzzer.cc
    ${PROJECT_SOURCE_DIR}/format/chunk_split.cc
    ${PROJECT_SOURCE_DIR}/format/trace_reader.cc)
  target_link_libraries(trace_reader_fuzzer PRIVATE memtrace_codec PkgConfig::ZSTD)
  memtrace_strict(trace_reader_fuzzer)
  target_compile_options(trace_reader_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_link_options(trace_reader_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  set_target_properties(trace_reader_fuzzer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
  # The split form's parser alone (format/chunk_split_fuzzer.cc): its inputs need no valid zstd frame.
  # Run as build-fuzz/tests/chunk_split_fuzzer -max_total_time=60 DIR (an empty DIR works; seeds are a
  # u32 output size then a chunk's split form, first_timestamp 1000).
  add_executable(chunk_split_fuzzer ${PROJECT_SOURCE_DIR}/format/chunk_split_fuzzer.cc
                                    ${PROJECT_SOURCE_DIR}/format/chunk_split.cc)
  target_link_libraries(chunk_split_fuzzer PRIVATE memtrace_codec)
  memtrace_strict(chunk_split_fuzzer)
  target_compile_options(chunk_split_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all)
  target_link_options(chunk_split_fuzzer PRIVATE -fsanitize=fuzzer,address,undefined)
  set_target_properties(chunk_split_fuzzer PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
endif()

# ---- analyzer/ (units the reports share; export and replay units sit with their e2e tests) ----
memtrace_unit_test(process_events_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/process_events_test.cc
  LIBRARIES memtrace_analysis)
# The reader thread against TraceReader::Next; run under ThreadSanitizer by hand with -fsanitize=thread.
memtrace_unit_test(event_pipeline_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/event_pipeline_test.cc
  LIBRARIES memtrace_analysis memtrace_test_support)
memtrace_unit_test(site_statistics_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/site_statistics_test.cc
  LIBRARIES memtrace_analysis)
# Checked against the kernel: a forked child's brk syscalls, seen with ptrace.
memtrace_unit_test(brk_inference_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/brk_inference_test.cc
  LIBRARIES memtrace_analysis)
# Symbolizes its own executable, so that must have DWARF whatever the build type.
memtrace_unit_test(symbolizer_test
  SOURCES ${PROJECT_SOURCE_DIR}/analyzer/symbolizer_test.cc
  LIBRARIES memtrace_analysis)
target_compile_options(symbolizer_test PRIVATE -O2 -g)

# ---- preload/ ----
# Compiled straight into the test (not through libmemtrace.so, whose hooks would trace the test itself).
find_package(Threads REQUIRED)
memtrace_unit_test(live_block_table_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/live_block_table_test.cc ${PROJECT_SOURCE_DIR}/preload/live_block_table.cc
          ${PROJECT_SOURCE_DIR}/preload/safe_memory.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(dense_live_set_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/dense_live_set_test.cc ${PROJECT_SOURCE_DIR}/preload/dense_live_set.cc
          ${PROJECT_SOURCE_DIR}/preload/live_block_table.cc ${PROJECT_SOURCE_DIR}/preload/safe_memory.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(merged_replay_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/merged_replay_test.cc ${PROJECT_SOURCE_DIR}/preload/merged_replay.cc
          ${PROJECT_SOURCE_DIR}/preload/dense_live_set.cc ${PROJECT_SOURCE_DIR}/preload/live_block_table.cc
          ${PROJECT_SOURCE_DIR}/preload/safe_memory.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(chunk_inspector_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/chunk_inspector_test.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(vfork_handoff_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/vfork_handoff_test.cc ${PROJECT_SOURCE_DIR}/preload/vfork_handoff.cc
  LIBRARIES memtrace_codec)
memtrace_unit_test(stack_table_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/stack_table_test.cc ${PROJECT_SOURCE_DIR}/preload/stack_table.cc)
memtrace_unit_test(tsc_clock_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/tsc_clock_test.cc ${PROJECT_SOURCE_DIR}/preload/tsc_clock.cc
  LIBRARIES Threads::Threads)
memtrace_unit_test(thread_parking_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/thread_parking_test.cc ${PROJECT_SOURCE_DIR}/preload/thread_parking.cc
  LIBRARIES Threads::Threads)

# ---- preload/: the CFI unwinder ----
# Checked against real witnesses: readelf's interpretation of libc's and the test's own .eh_frame, and
# libunwind's unw_backtrace on the same stacks.
memtrace_unit_test(cfi_rule_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/cfi_rule_test.cc
  LIBRARIES memtrace_unwind)
memtrace_unit_test(dwarf_reader_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/dwarf_reader_test.cc
  LIBRARIES memtrace_unwind)
memtrace_unit_test(frame_rule_cache_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/frame_rule_cache_test.cc
  LIBRARIES memtrace_unwind Threads::Threads)
memtrace_unit_test(eh_frame_index_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/eh_frame_index_test.cc
  LIBRARIES memtrace_unwind ${CMAKE_DL_LIBS})
memtrace_unit_test(checked_read_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/checked_read_test.cc
  LIBRARIES memtrace_unwind)
memtrace_unit_test(cfi_unwinder_test
  SOURCES ${PROJECT_SOURCE_DIR}/preload/cfi_unwinder_test.cc
  LIBRARIES memtrace_unwind Threads::Threads ${CMAKE_DL_LIBS})

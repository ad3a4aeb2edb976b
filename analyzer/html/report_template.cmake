# Embeds report_template.html into the memtrace_analysis library as the generated header
# analyzer/html/report_template.h; editing the HTML regenerates it.
set(memtrace_report_template ${CMAKE_CURRENT_SOURCE_DIR}/html/report_template.html)
set(memtrace_report_header ${CMAKE_CURRENT_BINARY_DIR}/generated/analyzer/html/report_template.h)
add_custom_command(
  OUTPUT ${memtrace_report_header}
  COMMAND ${CMAKE_COMMAND} -DINPUT=${memtrace_report_template} -DOUTPUT=${memtrace_report_header}
          -P ${CMAKE_CURRENT_SOURCE_DIR}/html/embed_template.cmake
  DEPENDS ${memtrace_report_template} ${CMAKE_CURRENT_SOURCE_DIR}/html/embed_template.cmake
  COMMENT "Embedding the HTML report template")
target_sources(memtrace_analysis PRIVATE ${memtrace_report_header})
target_include_directories(memtrace_analysis PRIVATE ${CMAKE_CURRENT_BINARY_DIR}/generated)

# Turns the report template into a C++ header at build time, so the template stays an editable HTML
# file. Run as: cmake -DINPUT=report_template.html -DOUTPUT=report_template.h -P embed_template.cmake
file(READ "${INPUT}" content)
string(FIND "${content}" ")memtrace_html\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw-string delimiter )memtrace_html\"")
endif()
file(WRITE "${OUTPUT}.tmp"
  "// Generated from analyzer/html/report_template.html by embed_template.cmake: edit the HTML.\n"
  "#pragma once\n\nnamespace memtrace::analyzer {\n\n"
  "inline constexpr char kReportTemplate[] = R\"memtrace_html(${content})memtrace_html\";\n\n"
  "}  // namespace memtrace::analyzer\n")
file(COPY_FILE "${OUTPUT}.tmp" "${OUTPUT}" ONLY_IF_DIFFERENT)
file(REMOVE "${OUTPUT}.tmp")

# CTest driver (cmake -P): find_package(fastann) against the installed package, in small throwaway projects:
# the default and requested library kinds, exclusive and unknown components, version compatibility.
# Variables: FASTANN_DIR (the installed lib/cmake/fastann), WORK (a scratch folder), SHARED (ON when built),
#            CXX (the C++ compiler), GENERATOR.
foreach(var FASTANN_DIR WORK SHARED CXX GENERATOR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "find_package_cases.cmake: -D${var}=... is required")
  endif()
endforeach()

set(case_no 0)
# configure(<expect: OK|FAIL> <regex the output must match> <CMake lines after project()>)
function(configure expect regex body)
  math(EXPR n "${case_no} + 1")
  set(case_no ${n} PARENT_SCOPE)
  set(dir ${WORK}/case${n})
  file(REMOVE_RECURSE ${dir})
  file(WRITE ${dir}/CMakeLists.txt "cmake_minimum_required(VERSION 3.18)\nproject(case${n} LANGUAGES CXX)\n${body}\n")
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${dir} -B ${dir}/build -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
                          -Dfastann_DIR=${FASTANN_DIR} -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  string(REGEX REPLACE "[ \t\r\n]+" " " log "${out} ${err}")  # CMake wraps messages: match on one line
  if((expect STREQUAL "OK" AND NOT rc EQUAL 0) OR (expect STREQUAL "FAIL" AND rc EQUAL 0) OR NOT log MATCHES "${regex}")
    message(FATAL_ERROR "case ${n}: expected ${expect} and output matching '${regex}', got exit ${rc}:\n"
                        "--- CMakeLists.txt\n${body}\n--- output\n${out}\n${err}")
  endif()
  message(STATUS "case ${n}: ${expect} as expected")
endfunction()

set(report [[message(STATUS "kind=${fastann_LIBRARY_KIND} version=${fastann_VERSION}")
get_target_property(libs fastann::fastann INTERFACE_LINK_LIBRARIES)
message(STATUS "links=${libs}")
if(NOT EXISTS "${fastann_INCLUDE_DIR}/fastann/fastann.hpp")
  message(FATAL_ERROR "no fastann.hpp in fastann_INCLUDE_DIR=${fastann_INCLUDE_DIR}")
endif()]])

if(SHARED)
  set(default_kind shared)
else()
  set(default_kind static)
endif()
configure(OK "kind=${default_kind} version=[0-9.]+ .*links=fastann::fastann_${default_kind}"
          "find_package(fastann CONFIG REQUIRED)\n${report}")
configure(OK "kind=static .*links=fastann::fastann_static"
          "find_package(fastann 0.1 CONFIG REQUIRED COMPONENTS static)\n${report}")
if(SHARED)
  configure(OK "kind=shared .*links=fastann::fastann_shared"
            "find_package(fastann CONFIG REQUIRED COMPONENTS shared)\n${report}")
else()
  configure(FAIL "the shared library is not installed" "find_package(fastann CONFIG REQUIRED COMPONENTS shared)")
endif()
configure(FAIL "components 'static' and 'shared' exclude each other"
          "find_package(fastann CONFIG REQUIRED COMPONENTS static shared)")
configure(FAIL "unknown component 'python'" "find_package(fastann CONFIG REQUIRED COMPONENTS python)")
configure(OK "kind=${default_kind}" "find_package(fastann CONFIG REQUIRED OPTIONAL_COMPONENTS python)\n${report}")
# Same major.minor only (0.x): 0.1.z satisfies 0.1, nothing satisfies 0.2 or 1.
configure(FAIL "version: [0-9.]+" "find_package(fastann 0.2 CONFIG REQUIRED)")
configure(FAIL "version: [0-9.]+" "find_package(fastann 1 CONFIG REQUIRED)")
# The first find_package in a scope picks the kind; later plain calls keep it, a contradicting one is refused.
configure(OK "kind=static .*links=fastann::fastann_static" "find_package(fastann CONFIG REQUIRED COMPONENTS static)
find_package(fastann CONFIG REQUIRED)\n${report}")
if(SHARED)
  configure(FAIL "already links fastann::fastann_static in this directory scope"
            "find_package(fastann CONFIG REQUIRED COMPONENTS static)
find_package(fastann CONFIG REQUIRED COMPONENTS shared)")
endif()

# CPU backend: thread pool, cpuid features, ISA dispatch, the GEMM frame and its kernel folders. Included by the
# top-level CMakeLists.txt:
#   include(csrc/backends/cpu/sources.cmake)   ->   FASTANN_CPU_GEMM_SOURCES (absolute paths)
# Each kernel folder gemm/kernels/<isa>/ has a kernel.cmake (found by glob) naming its sources and their ISA flags with
# fastann_cpu_kernels(). Only those sources get ISA flags; everything else builds for the baseline ISA, and
# dispatch.cpp picks a registered kernel set (gemm/kernels/registry.cpp) at run time (cpuid + xgetbv, FASTANN_ISA
# override). Without GCC/Clang on x86 the ISA sources compile to stubs and only the generic kernels exist.
# Note: source file properties are directory-scoped; the target using these sources must be defined in the directory
# that include()s this file (or pass DIRECTORY to set_source_files_properties there).
set(_fastann_cpu_dir "${CMAKE_CURRENT_LIST_DIR}")

list(APPEND FASTANN_CPU_GEMM_SOURCES
  "${_fastann_cpu_dir}/cpu_features.cpp"
  "${_fastann_cpu_dir}/dispatch.cpp"
  "${_fastann_cpu_dir}/threadpool.cpp"
  "${_fastann_cpu_dir}/gemm/frame/gemm_driver.cpp"
  "${_fastann_cpu_dir}/gemm/frame/packed.cpp"
  "${_fastann_cpu_dir}/gemm/frame/small_m.cpp"
  "${_fastann_cpu_dir}/gemm/frame/scratch.cpp"
  "${_fastann_cpu_dir}/gemm/frame/batched.cpp"
  "${_fastann_cpu_dir}/gemm/kernels/registry.cpp"
)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86|x86)$")
  set(_fastann_cpu_x86_flags ON)
else()
  set(_fastann_cpu_x86_flags OFF)
endif()

# fastann_cpu_kernels(SOURCES <files relative to the calling kernel.cmake> [X86_FLAGS <compiler flags>])
# Adds a kernel folder's sources; X86_FLAGS (e.g. -mavx2 -mfma) apply to them alone, with GCC/Clang on x86.
function(fastann_cpu_kernels)
  cmake_parse_arguments(PARSE_ARGV 0 _k "" "" "SOURCES;X86_FLAGS")
  set(_srcs)
  foreach(_s IN LISTS _k_SOURCES)
    list(APPEND _srcs "${CMAKE_CURRENT_LIST_DIR}/${_s}")
  endforeach()
  if(_k_X86_FLAGS AND _fastann_cpu_x86_flags)
    set_source_files_properties(${_srcs} PROPERTIES COMPILE_OPTIONS "${_k_X86_FLAGS}")
  endif()
  set(FASTANN_CPU_GEMM_SOURCES ${FASTANN_CPU_GEMM_SOURCES} ${_srcs} PARENT_SCOPE)
endfunction()

file(GLOB _fastann_cpu_kernel_folders CONFIGURE_DEPENDS "${_fastann_cpu_dir}/gemm/kernels/*/kernel.cmake")
foreach(_f IN LISTS _fastann_cpu_kernel_folders)
  include("${_f}")
endforeach()

unset(_fastann_cpu_kernel_folders)
unset(_fastann_cpu_x86_flags)
unset(_fastann_cpu_dir)

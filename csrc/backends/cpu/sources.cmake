# CPU GEMM, batched GEMM, thread pool and ISA dispatch. Included by the top-level CMakeLists.txt:
#   include(csrc/backends/cpu/sources.cmake)   ->   FASTANN_CPU_GEMM_SOURCES (absolute paths)
# Only the micro-kernel translation units get ISA flags; everything else builds for the baseline ISA, and dispatch.cpp
# picks a kernel set at run time (cpuid + xgetbv, FASTANN_ISA override). Without GCC/Clang on x86 the ISA units
# compile to stubs and only the generic kernels exist.
# Note: source file properties are directory-scoped; the target using these sources must be defined in the directory
# that include()s this file (or pass DIRECTORY to set_source_files_properties there).
set(_fastann_gemm_dir "${CMAKE_CURRENT_LIST_DIR}")

list(APPEND FASTANN_CPU_GEMM_SOURCES
  "${_fastann_gemm_dir}/cpu_features.cpp"
  "${_fastann_gemm_dir}/dispatch.cpp"
  "${_fastann_gemm_dir}/threadpool.cpp"
  "${_fastann_gemm_dir}/ref/gemm_ref.cpp"
  "${_fastann_gemm_dir}/gemm/frame/gemm_driver.cpp"
  "${_fastann_gemm_dir}/gemm/frame/batched.cpp"
  "${_fastann_gemm_dir}/gemm/kernels/registry.cpp"
  "${_fastann_gemm_dir}/gemm/kernels/generic/microkernel.cpp"
  "${_fastann_gemm_dir}/gemm/kernels/avx2/microkernel_6x16.cpp"
  "${_fastann_gemm_dir}/gemm/kernels/avx512/microkernel_14x32.cpp"
)

if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang" AND CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i[3-6]86|x86)$")
  set_source_files_properties("${_fastann_gemm_dir}/gemm/kernels/avx2/microkernel_6x16.cpp"
    PROPERTIES COMPILE_OPTIONS "-mavx2;-mfma")
  set_source_files_properties("${_fastann_gemm_dir}/gemm/kernels/avx512/microkernel_14x32.cpp"
    PROPERTIES COMPILE_OPTIONS "-mavx512f;-mavx512vl;-mavx512bw;-mavx512dq;-mfma;-mavx2")
endif()

unset(_fastann_gemm_dir)

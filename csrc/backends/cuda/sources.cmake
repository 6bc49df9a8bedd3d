# The optional CUDA backend. Included by the top-level CMakeLists.txt, which calls fastann_configure_cuda():
#   FASTANN_CUDA=AUTO|ON|OFF (cache option; its default comes from the environment variable FASTANN_CUDA, else AUTO)
#   -> FASTANN_CUDA_ENABLED (ON/OFF) and, when ON, the object library fastann_cuda_objects (linked into the core
#      libraries next to the fastann_objects_<folder> ones) and CUDA::cudart_static.
#   FASTANN_CUDA_EMULATOR=ON|OFF (cache option; default from the environment variable FASTANN_CUDA_EMULATOR, else
#   OFF): TEST-ONLY. tests/emulator/emulator.cpp, a host implementation of the backend with poisoned device pointers,
#   replaces both the real backend and the stub, so CI machines without a GPU exercise the host-side CUDA code
#   (tests/README.md). FASTANN_CUDA is then ignored, nothing is compiled by nvcc, and FASTANN_CUDA_MODE is EMULATOR.
#   -> FASTANN_CUDA_EMULATOR_ENABLED (ON/OFF).
# Architectures: CMAKE_CUDA_ARCHITECTURES (or the CUDAARCHS environment variable) when given, else sm_80 and sm_90
# machine code plus compute_90 PTX (JIT-compiled by newer drivers for later GPUs). To iterate faster:
#   CUDAARCHS=90-real pip install ...   or   cmake -DCMAKE_CUDA_ARCHITECTURES=90-real ...
set(_fastann_cuda_dir "${CMAKE_CURRENT_LIST_DIR}")

macro(fastann_configure_cuda)
  if(DEFINED ENV{FASTANN_CUDA_EMULATOR} AND NOT "$ENV{FASTANN_CUDA_EMULATOR}" STREQUAL "")
    set(_fastann_emu_default "$ENV{FASTANN_CUDA_EMULATOR}")
  else()
    set(_fastann_emu_default OFF)
  endif()
  option(FASTANN_CUDA_EMULATOR "TEST-ONLY: replace the CUDA backend by its host emulator (tests/emulator/emulator.cpp)"
         ${_fastann_emu_default})
  set(FASTANN_CUDA_EMULATOR_ENABLED OFF)
  if(FASTANN_CUDA_EMULATOR)
    set(FASTANN_CUDA_EMULATOR_ENABLED ON)
    set(FASTANN_CUDA_MODE EMULATOR)
    set(FASTANN_CUDA_ENABLED OFF)
    message(STATUS "fastann: FASTANN_CUDA_EMULATOR=ON: the CUDA backend is the test-only host emulator "
                   "(tests/emulator/emulator.cpp); no GPU code is built. Do not ship this build.")
  else()
    _fastann_configure_real_cuda()
  endif()
endmacro()

macro(_fastann_configure_real_cuda)
  if(DEFINED ENV{FASTANN_CUDA} AND NOT "$ENV{FASTANN_CUDA}" STREQUAL "")
    set(_fastann_cuda_default "$ENV{FASTANN_CUDA}")
  else()
    set(_fastann_cuda_default AUTO)
  endif()
  set(FASTANN_CUDA "${_fastann_cuda_default}" CACHE STRING "Build the CUDA backend: AUTO (when nvcc is found), ON, OFF")
  string(TOUPPER "${FASTANN_CUDA}" _fastann_cuda_mode)
  if(_fastann_cuda_mode MATCHES "^(1|TRUE|YES|Y)$")
    set(_fastann_cuda_mode ON)
  elseif(_fastann_cuda_mode MATCHES "^(0|FALSE|NO|N)$")
    set(_fastann_cuda_mode OFF)
  endif()
  if(NOT _fastann_cuda_mode MATCHES "^(AUTO|ON|OFF)$")
    message(FATAL_ERROR "FASTANN_CUDA must be AUTO, ON or OFF, got '${FASTANN_CUDA}'")
  endif()

  set(FASTANN_CUDA_MODE "${_fastann_cuda_mode}")
  set(FASTANN_CUDA_ENABLED OFF)
  if(NOT _fastann_cuda_mode STREQUAL "OFF")
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES AND NOT DEFINED ENV{CUDAARCHS})
      set(CMAKE_CUDA_ARCHITECTURES "80-real;90-real;90-virtual")
    endif()
    include(CheckLanguage)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      set(FASTANN_CUDA_ENABLED ON)
    elseif(_fastann_cuda_mode STREQUAL "ON")
      message(FATAL_ERROR "FASTANN_CUDA=ON but no working CUDA compiler (nvcc) was found: install the CUDA toolkit, "
                          "put nvcc on PATH (or set CUDACXX), or build with FASTANN_CUDA=OFF")
    else()
      message(STATUS "fastann: nvcc not found: building without the CUDA backend (FASTANN_CUDA=AUTO)")
    endif()
  endif()

  if(FASTANN_CUDA_ENABLED)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    message(STATUS "fastann: building the CUDA backend (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, "
                   "architectures ${CMAKE_CUDA_ARCHITECTURES})")
    # The ops' CUDA kernels (csrc/ops/<op>/cuda.cu) join the backend's own sources.
    file(GLOB _fastann_op_cuda_sources CONFIGURE_DEPENDS "${_fastann_cuda_dir}/../../ops/*/cuda.cu")
    add_library(fastann_cuda_objects OBJECT
      ${_fastann_op_cuda_sources}
      "${_fastann_cuda_dir}/runtime.cpp"
      "${_fastann_cuda_dir}/allocator.cpp"
      "${_fastann_cuda_dir}/gemm.cu"
      "${_fastann_cuda_dir}/gemm_tf32.cu"
      "${_fastann_cuda_dir}/elementwise.cu"
    )
    fastann_folder_include_root(backends_cuda _fastann_cuda_root)  # cmake/boundaries.cmake: what the backend may include
    target_include_directories(fastann_cuda_objects PRIVATE "${CMAKE_CURRENT_SOURCE_DIR}/csrc/include"
                               "${_fastann_cuda_root}")
    target_link_libraries(fastann_cuda_objects PRIVATE CUDA::cudart_static)  # its include directories
    set_target_properties(fastann_cuda_objects PROPERTIES
      POSITION_INDEPENDENT_CODE ON
      CUDA_STANDARD 17 CUDA_STANDARD_REQUIRED ON
      CXX_VISIBILITY_PRESET hidden CUDA_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
    if(CMAKE_CXX_COMPILER_ID MATCHES "GNU|Clang")
      target_compile_options(fastann_cuda_objects PRIVATE
        $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -fno-math-errno>
        $<$<COMPILE_LANGUAGE:CUDA>:-Xcompiler=-Wall,-Wextra>)
    endif()
  endif()
endmacro()

# The folder boundaries of csrc/ (shared DESIGN.md, rule 1), enforced by the include paths: the sources of each folder
# compile in an object library of their own whose only include root, besides the public csrc/include, is a directory
# of links to the folders that folder may include. A forbidden include is then a "file not found" error at the
# include line. tests/cmake/boundaries builds probes that prove it.
#
#   fastann_folder_objects(<prefix> <out_objects> <out_targets> SOURCES <files...>)
#       One object library <prefix>_<folder> per folder of the sources; <out_objects> gets their
#       $<TARGET_OBJECTS:...>, <out_targets> their names (to set properties on).
#   fastann_folder_include_root(<folder> <out_dir>)
#       The include root of <folder> (created on first use): links named like the folders it may include.
#
# The arrows: bindings -> nn -> ops -> runtime <- backends, io -> nn, everything -> core. The transitional entries
# (marked) are the pieces not yet moved to their final folder; each names what removes it.

if(POLICY CMP0205)
  cmake_policy(SET CMP0205 NEW)  # COPY_ON_ERROR below copies a folder whole where no link can be made
endif()

# Folders by key; a key is the folder's path under csrc/ with "/" as "_" (tests/emulator is "emulator").
set(FASTANN_ALLOW_core runtime)          # Tensor's memory comes from its device's runtime backend (interface only)
set(FASTANN_ALLOW_runtime core)
set(FASTANN_ALLOW_backends_cpu core runtime)
set(FASTANN_ALLOW_backends_cuda core runtime ops)  # the ops' cuda.cu files include their op's header; the GEMM epilogue evaluates ops/activation/formulas.hpp
set(FASTANN_ALLOW_ops core runtime backends/cpu)  # the ops' cpu.cpp files run the CPU backend's GEMM, threads and float mode
set(FASTANN_ALLOW_nn core runtime ops)
set(FASTANN_ALLOW_io core runtime nn ops)
set(FASTANN_ALLOW_distributed core)
set(FASTANN_ALLOW_bindings core runtime ops nn io distributed)
set(FASTANN_ALLOW_emulator core runtime ops backends/cuda backends/cpu)  # test-only: replaces the CUDA backend on the host

# The folder key of a source file (absolute, or relative to the top of the tree).
function(fastann_folder_of source out_var)
  if(IS_ABSOLUTE "${source}")
    file(RELATIVE_PATH path "${PROJECT_SOURCE_DIR}" "${source}")
  else()
    set(path "${source}")
  endif()
  if(path MATCHES "^tests/emulator/")
    set(key emulator)
  elseif(path MATCHES "^csrc/backends/([^/]+)/")
    set(key "backends_${CMAKE_MATCH_1}")
  elseif(path MATCHES "^csrc/([^/]+)/")
    set(key "${CMAKE_MATCH_1}")
  else()
    message(FATAL_ERROR "fastann_folder_of: ${source} is not under csrc/<folder>/ or tests/emulator/")
  endif()
  if(NOT DEFINED FASTANN_ALLOW_${key})
    message(FATAL_ERROR "fastann: the folder of ${source} (${key}) has no entry in cmake/boundaries.cmake")
  endif()
  set(${out_var} "${key}" PARENT_SCOPE)
endfunction()

function(fastann_folder_include_root key out_dir)
  set(root "${PROJECT_BINARY_DIR}/include_roots/${key}")
  set(folders ${FASTANN_ALLOW_${key}})
  if(key MATCHES "^backends_(.*)$")
    list(APPEND folders "backends/${CMAKE_MATCH_1}")
  elseif(NOT key STREQUAL "emulator")
    list(APPEND folders "${key}")
  endif()
  set(made "")
  if(EXISTS "${root}/.folders")
    file(READ "${root}/.folders" made)
  endif()
  if(NOT made STREQUAL "${folders}\n")  # made anew when the list changed
    file(REMOVE_RECURSE "${root}")
    foreach(folder IN LISTS folders)
      get_filename_component(parent "${root}/${folder}" DIRECTORY)
      file(MAKE_DIRECTORY "${parent}")
      # COPY_ON_ERROR: where links cannot be made, a copy of the headers (refreshed at each configure).
      file(CREATE_LINK "${PROJECT_SOURCE_DIR}/csrc/${folder}" "${root}/${folder}" SYMBOLIC COPY_ON_ERROR)
    endforeach()
    file(WRITE "${root}/.folders" "${folders}\n")
  endif()
  set(${out_dir} "${root}" PARENT_SCOPE)
endfunction()

function(fastann_folder_objects prefix out_objects out_targets)
  cmake_parse_arguments(ARG "" "" "SOURCES" ${ARGN})
  set(keys)
  foreach(src IN LISTS ARG_SOURCES)
    fastann_folder_of("${src}" key)
    list(APPEND keys ${key})
    list(APPEND sources_${key} "${src}")
  endforeach()
  list(REMOVE_DUPLICATES keys)
  set(objects)
  set(targets)
  foreach(key IN LISTS keys)
    set(target "${prefix}_${key}")
    add_library(${target} OBJECT ${sources_${key}})
    fastann_folder_include_root(${key} root)
    target_include_directories(${target} PRIVATE "${PROJECT_SOURCE_DIR}/csrc/include" "${root}")
    list(APPEND objects "$<TARGET_OBJECTS:${target}>")
    list(APPEND targets ${target})
  endforeach()
  set(${out_objects} "${objects}" PARENT_SCOPE)
  set(${out_targets} "${targets}" PARENT_SCOPE)
endfunction()

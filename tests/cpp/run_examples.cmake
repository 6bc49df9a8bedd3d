# CTest driver (cmake -P): the examples built against the installed package (tests/cpp/CMakeLists.txt) train XOR,
# save it, load it and predict, with every library kind:
#   train_xor (each kind) -> xor-<kind>.fastann; predict (each kind) on each model, from CSV and from raw float32 rows.
# The predictions must be XOR's, identical to what train_xor printed before saving, and identical across kinds and
# input formats. A file that is not a model must be refused with a message.
# Variables: PKG (folder with <example>-<kind> build folders), DATA (tests/cpp/data), KINDS (static;shared).
foreach(var PKG DATA KINDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_examples.cmake: -D${var}=... is required")
  endif()
endforeach()

function(find_exe out example kind)
  foreach(candidate ${PKG}/${example}-${kind}/${example} ${PKG}/${example}-${kind}/Release/${example}
                    ${PKG}/${example}-${kind}/${example}.exe ${PKG}/${example}-${kind}/Release/${example}.exe)
    if(EXISTS ${candidate} AND NOT IS_DIRECTORY ${candidate})
      set(${out} ${candidate} PARENT_SCOPE)
      return()
    endif()
  endforeach()
  message(FATAL_ERROR "no ${example} executable in ${PKG}/${example}-${kind} (did package.build.${example}.${kind} run?)")
endfunction()

# Runs a command; fails the test unless it exits with 0. Its stdout goes to <out>.
function(run_ok out)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE stdout ERROR_VARIABLE stderr)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " cmd "${ARGN}")
    message(FATAL_ERROR "`${cmd}` failed (${rc}):\n${stdout}\n${stderr}")
  endif()
  set(${out} "${stdout}" PARENT_SCOPE)
endfunction()

set(expected_labels 0 1 1 0)
set(reference "")
foreach(train_kind IN LISTS KINDS)
  find_exe(train_xor train_xor ${train_kind})
  set(model ${PKG}/xor-${train_kind}.fastann)
  file(REMOVE ${model})
  run_ok(train_out ${train_xor} ${model})
  message(STATUS "train_xor (${train_kind}):\n${train_out}")
  # "  0 xor 1 -> 0.996092379" lines: the predictions before saving.
  string(REGEX MATCHALL "-> [^\n]+" trained "${train_out}")
  string(REPLACE "-> " "" trained "${trained}")
  list(LENGTH trained n)
  if(NOT n EQUAL 4)
    message(FATAL_ERROR "train_xor printed ${n} predictions, expected 4")
  endif()

  foreach(predict_kind IN LISTS KINDS)
    find_exe(predict predict ${predict_kind})
    foreach(rows ${DATA}/xor.csv ${DATA}/xor.bin)
      run_ok(out ${predict} ${model} ${rows})
      string(STRIP "${out}" out)
      string(REPLACE "\n" ";" values "${out}")
      if(NOT values STREQUAL trained)
        message(FATAL_ERROR "predict (${predict_kind}) on ${rows} with the model saved by train_xor (${train_kind}) "
                            "printed\n${values}\nbut before saving the model predicted\n${trained}")
      endif()
      foreach(i RANGE 3)
        list(GET values ${i} v)
        list(GET expected_labels ${i} label)
        if((label EQUAL 0 AND NOT v LESS 0.5) OR (label EQUAL 1 AND NOT v GREATER 0.5))
          message(FATAL_ERROR "XOR row ${i}: predicted ${v}, label ${label}")
        endif()
      endforeach()
    endforeach()
  endforeach()
  # Same library code, seeds and thread count: every kind trains the same model.
  if(reference STREQUAL "")
    set(reference "${trained}")
  elseif(NOT reference STREQUAL trained)
    message(FATAL_ERROR "train_xor gave different models with different library kinds:\n${reference}\n${trained}")
  endif()
endforeach()

# Not a model file: refused with a message, exit code 1.
list(GET KINDS 0 kind)
find_exe(predict predict ${kind})
execute_process(COMMAND ${predict} ${DATA}/xor.csv ${DATA}/xor.csv RESULT_VARIABLE rc OUTPUT_VARIABLE out
                ERROR_VARIABLE err)
if(NOT rc EQUAL 1 OR NOT err MATCHES "^predict: model file")
  message(FATAL_ERROR "predict on a CSV given as the model file: exit ${rc}, stderr '${err}'")
endif()
message(STATUS "XOR: trained, saved, loaded and predicted with ${KINDS}: ${reference}")

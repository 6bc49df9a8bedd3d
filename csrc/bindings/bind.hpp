// The bind_<area> functions of fastann._core, called in this order by PYBIND11_MODULE (module.cpp): each adds its
// area's functions and classes to the module.
#pragma once

#include <pybind11/pybind11.h>

#include <exception>
#include <functional>

#include "fastann/fastann.hpp"

namespace py = pybind11;

// A should_stop hook for a call that runs with the GIL released (bind_train.cpp): true once a signal handler raised
// (Ctrl-C: KeyboardInterrupt) or `error` is set; the handler's exception is kept in `error` for the binding to rethrow.
std::function<bool()> signal_check(std::exception_ptr& error);

void bind_errors(py::module_& mod);         // bind_errors.cpp: exception types and translations
void bind_runtime(py::module_& mod);        // bind_runtime.cpp: library settings, build facts, devices, CPU ISA
void bind_tensor(py::module_& mod);         // bind_tensor.cpp: NumPy <-> Tensor hooks for the tests
void bind_device_ops(py::module_& parent);  // bind_device_ops.cpp: the cuda submodule
void bind_ops(py::module_& mod);            // bind_ops.cpp: the ops on NumPy arrays, for the tests
py::class_<fastann::Sequential> bind_model(py::module_& mod);  // bind_model.cpp: Sequential (layers, compile, weights)
void bind_train(py::module_& mod, py::class_<fastann::Sequential>& seq);  // bind_train.cpp: fit, evaluate, predict
void bind_io(py::module_& mod);                                           // bind_io.cpp: the model file

// The one NumPy <-> Tensor conversion of fastann._core: float32 arrays in (a view, or one converting copy), Tensors
// out (NumPy takes over the buffer, no copy).
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <vector>

#include "fastann/tensor.hpp"

namespace fastann::bindings {

namespace py = pybind11;

// Float32 C-contiguous array; pybind11 converts other dtypes/layouts (one copy) and leaves such arrays alone.
using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;

// A view of the array's memory (no copy); the array must outlive the view.
Tensor as_tensor(const FArray& a);

// Hands the Tensor's buffer to NumPy without a copy.
py::array to_numpy(Tensor t);

py::list to_numpy_list(std::vector<Tensor> ts);

std::vector<Tensor> to_tensors(const std::vector<FArray>& arrays);

}  // namespace fastann::bindings

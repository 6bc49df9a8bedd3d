// The one NumPy <-> Tensor conversion of fastann._core, for every dtype a Tensor has:
//
//   Tensor     NumPy
//   float32    float32
//   int32      int32
//   int64      int64
//   bfloat16   uint16 holding the bits (the upper half of the float32). In: also an ml_dtypes.bfloat16 array (found
//              by its dtype's name: ml_dtypes is not imported, nor needed).
//
// Out, bfloat16 is always uint16, whatever is installed, so a result's dtype never depends on the environment: with
// ml_dtypes, `a.view(ml_dtypes.bfloat16)` reads the numbers (no copy); without it,
// `(a.astype(np.uint32) << 16).view(np.float32)` does. In, a uint16 array is bfloat16 bits only where the caller
// asks for bfloat16 (uint16 is not a Tensor dtype of its own).
//
// Arrays in are views (no copy; the array must outlive the Tensor) except through FArray, which converts other
// dtypes and layouts to float32 (one copy). Tensors out hand their buffer to NumPy (no copy), after a copy to the
// host for a tensor on a device.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/typing.h>

#include <optional>
#include <vector>

#include "fastann/dtype.hpp"
#include "fastann/tensor.hpp"

namespace fastann::bindings {

namespace py = pybind11;

// Float32 C-contiguous array; pybind11 converts other dtypes/layouts (one copy) and leaves such arrays alone.
using FArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
// A float32 result (typed, so that the stubs read NDArray[numpy.float32]).
using FResult = py::array_t<float>;

// The NumPy dtype of a Tensor dtype (bfloat16: uint16).
py::dtype numpy_dtype(DType dtype);

// A view of the float32 array's memory (no copy); the array must outlive the view.
Tensor as_tensor(const FArray& a);

// A view of the array's memory (no copy) for an array of any Tensor dtype (the table above); `as` = bfloat16 also
// reads a uint16 array as bfloat16 bits, and any other `as` requires that dtype. TypeError for an array of another
// dtype (or not of `as`), ValueError for one that is not C-contiguous. The array must outlive the view.
Tensor array_view(const py::array& a, std::optional<DType> as = std::nullopt);

// Hands the Tensor's buffer to NumPy without a copy (a device tensor is copied to the host first); any dtype.
py::array to_numpy(Tensor t);
// to_numpy of a float32 tensor, typed; TypeError for another dtype.
FResult to_numpy_f32(Tensor t);

// to_numpy of each.
py::typing::List<py::array> to_numpy_list(std::vector<Tensor> ts);

// as_tensor of each.
std::vector<Tensor> to_tensors(const std::vector<FArray>& arrays);

}  // namespace fastann::bindings

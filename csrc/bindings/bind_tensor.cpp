// fastann._core's Tensor <-> NumPy hooks for the tests (tests/python/bindings/test_numpy.py): an array of every
// Tensor dtype through numpy.hpp's conversion and back, and Tensor::astype between the dtypes.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings/bind.hpp"
#include "bindings/numpy.hpp"
#include "fastann/fastann.hpp"

using fastann::bindings::array_view;
using fastann::bindings::to_numpy;

namespace {

std::optional<fastann::DType> optional_dtype(const std::optional<std::string>& name) {
  if (!name) return std::nullopt;
  return fastann::parse_dtype(*name);
}

}  // namespace

void bind_tensor(py::module_& mod) {
  mod.def(
      "tensor_roundtrip",
      [](const py::array& a, std::optional<std::string> dtype) {
        return to_numpy(array_view(a, optional_dtype(dtype)).clone());
      },
      py::arg("a"), py::arg("dtype") = py::none(),
      "Test hook: a as a Tensor (a view; dtype names the Tensor dtype wanted: 'bfloat16' reads uint16 bits), then a "
      "copy of it back to NumPy (bfloat16 as uint16 bits).");
  mod.def(
      "tensor_astype",
      [](const py::array& a, const std::string& dtype, std::optional<std::string> a_dtype) {
        return to_numpy(array_view(a, optional_dtype(a_dtype)).astype(fastann::parse_dtype(dtype)));
      },
      py::arg("a"), py::arg("dtype"), py::arg("a_dtype") = py::none(),
      "Test hook: Tensor::astype of a (a_dtype as in tensor_roundtrip) to dtype, as NumPy (bfloat16 as uint16 bits).");
}

// fastann._core's model file: save/load to a path or bytes (the GIL released), and the format version.
#include <pybind11/pybind11.h>

#include <string>
#include <string_view>

#include "bindings/bind.hpp"
#include "fastann/fastann.hpp"

void bind_io(py::module_& mod) {
  // --- model file --------------------------------------------------------------------------------------------
  mod.attr("MODEL_FORMAT_VERSION") = fastann::kModelFormatVersion;
  mod.def(
      "save_model",
      [](const fastann::Sequential& m, const std::string& path, bool include_optimizer) {
        py::gil_scoped_release release;
        fastann::save_model(m, path, include_optimizer);
      },
      py::arg("model"), py::arg("path"), py::arg("include_optimizer") = true,
      "Writes the model file atomically (temporary file + rename).");
  mod.def(
      "load_model",
      [](const std::string& path) {
        py::gil_scoped_release release;
        return fastann::load_model(path);
      },
      py::arg("path"), "Reads a model file; a file that is not a valid fastann model raises OSError.");
  mod.def(
      "serialize_model",
      [](const fastann::Sequential& m, bool include_optimizer) {
        std::string bytes;
        {
          py::gil_scoped_release release;
          bytes = fastann::serialize_model(m, include_optimizer);
        }
        return py::bytes(bytes);
      },
      py::arg("model"), py::arg("include_optimizer") = true, "The model file's bytes.");
  mod.def(
      "load_model_from_bytes",
      [](const py::bytes& data) {
        const std::string_view view = data;
        py::gil_scoped_release release;  // `data` is immutable and kept alive by the caller's reference
        return fastann::load_model_from_memory(view.data(), view.size());
      },
      py::arg("data"), "As load_model, from the file's bytes.");
}

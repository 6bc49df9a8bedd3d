// fastann._core's model file: save/load to a path or bytes (the GIL released), and the format version.
#include <pybind11/pybind11.h>

#include <exception>
#include <functional>
#include <string>
#include <string_view>

#include "bindings/bind.hpp"
#include "fastann/fastann.hpp"
#include "io/file.hpp"

namespace {

// Runs write(should_stop) with the GIL released, Ctrl-C polled between its chunks: the signal handler's exception
// (KeyboardInterrupt) is raised in place of the Interrupted that ended the write.
template <typename Write>
void interruptible(Write&& write) {
  std::exception_ptr error;
  const std::function<bool()> stop = signal_check(error);
  try {
    py::gil_scoped_release release;
    write(stop);
  } catch (const fastann::Interrupted&) {
    if (!error) throw;
  }
  if (error) std::rethrow_exception(error);
}

}  // namespace

void bind_io(py::module_& mod) {
  // --- model file --------------------------------------------------------------------------------------------
  mod.attr("MODEL_FORMAT_VERSION") = fastann::kModelFormatVersion;
  mod.def(
      "save_model",
      [](const fastann::Sequential& m, const std::string& path, bool include_optimizer) {
        interruptible(
            [&](const std::function<bool()>& stop) { fastann::save_model(m, path, include_optimizer, stop); });
      },
      py::arg("model"), py::arg("path"), py::arg("include_optimizer") = true,
      "Writes the model file atomically (temporary file + rename); Ctrl-C stops it with the file as it was.");
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
  mod.def(
      "_write_file_atomically",
      [](const std::string& path, const py::bytes& data, const std::string& what) {
        const std::string_view view = data;
        interruptible([&](const std::function<bool()>& stop) {
          fastann::io::write_file_atomically(path, view, what.c_str(), stop);
        });
      },
      py::arg("path"), py::arg("data"), py::arg("what"),
      "Replaces the file at path with data atomically, as save_model does (links followed, permissions kept).");
}

// pybind11 module fastann._core: NumPy <-> Tensor conversion and thin wrappers over the C++ API. No logic here:
// arguments are converted, the GIL is released around every call that can take long, and C++ exceptions become
// the matching Python exceptions. Each area's bindings are in its bind_<area>.cpp (bind.hpp); conversions in numpy.hpp.
#include <pybind11/pybind11.h>

#include "bindings/bind.hpp"
#include "fastann/fastann.hpp"

PYBIND11_MODULE(_core, mod) {
  mod.doc() = "fastann C++ core (private: use the fastann package)";
  mod.attr("__version__") = fastann::version();

  bind_errors(mod);
  bind_runtime(mod);
  bind_tensor(mod);
  bind_device_ops(mod);
  bind_ops(mod);
  py::class_<fastann::Sequential> seq = bind_model(mod);
  bind_train(mod, seq);
  bind_io(mod);
}

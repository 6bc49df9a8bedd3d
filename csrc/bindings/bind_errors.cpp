// fastann._core's exceptions: StateError, UnavailableError and CudaError (RuntimeError subclasses), and the C++
// errors that become ValueError, TypeError, OSError, MemoryError and KeyboardInterrupt.
#include <pybind11/pybind11.h>

#include <exception>

#include "bindings/bind.hpp"
#include "fastann/fastann.hpp"

void bind_errors(py::module_& mod) {
  py::register_exception<fastann::StateError>(mod, "StateError", PyExc_RuntimeError);
  py::register_exception<fastann::UnavailableError>(mod, "UnavailableError", PyExc_RuntimeError);
  py::register_exception<fastann::CudaError>(mod, "CudaError", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const fastann::ValueError& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    } catch (const fastann::TypeError& e) {
      PyErr_SetString(PyExc_TypeError, e.what());
    } catch (const fastann::IOError& e) {
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const fastann::OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const fastann::Interrupted& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    }
  });
}

// fastann._core's exceptions: StateError, UnavailableError and CudaError (RuntimeError subclasses), and the C++
// errors that become ValueError, TypeError, OSError (the subclass of its errno), MemoryError and KeyboardInterrupt.
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
      if (e.error_code() == 0) {  // not a system call's failure: an invalid file
        PyErr_SetString(PyExc_OSError, e.what());
        return;
      }
      // OSError(errno, strerror, filename) is the subclass of that errno (FileNotFoundError, IsADirectoryError, ...),
      // as open() raises; the file name decoded as os.fsdecode does.
      PyObject* filename =
          PyUnicode_DecodeFSDefaultAndSize(e.filename().data(), static_cast<Py_ssize_t>(e.filename().size()));
      PyObject* err = filename
                          ? PyObject_CallFunction(PyExc_OSError, "isO", e.error_code(), e.reason().c_str(), filename)
                          : nullptr;
      Py_XDECREF(filename);
      if (!err) return;  // the error of the failed construction is set
      PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(err)), err);
      Py_DECREF(err);
    } catch (const fastann::OutOfMemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    } catch (const fastann::Interrupted& e) {
      PyErr_SetString(PyExc_KeyboardInterrupt, e.what());
    }
  });
}

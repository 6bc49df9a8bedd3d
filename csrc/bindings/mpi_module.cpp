// pybind11 module fastann._mpi: the MPI gradient reducer for fastann.distributed. Built only when CMake finds MPI,
// so the default package has no MPI dependency; imported only by fastann.distributed.init(). No logic here.
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>

#include "distributed/mpi_reducer.hpp"

namespace py = pybind11;
using fastann::MpiReducer;

namespace {

bool mpi_active() {
  int initialized = 0, finalized = 0;
  MPI_Initialized(&initialized);
  MPI_Finalized(&finalized);
  return initialized && !finalized;
}

// A writable C-contiguous buffer (a NumPy array) as (pointer, bytes).
std::pair<void*, int64_t> writable(const py::buffer& b, const char* what) {
  py::buffer_info info = b.request(true);
  int64_t expect = info.itemsize;
  for (py::ssize_t i = info.ndim; i-- > 0;) {
    if (info.strides[static_cast<size_t>(i)] != expect) {
      throw fastann::ValueError(std::string(what) + ": the array must be C-contiguous");
    }
    expect *= info.shape[static_cast<size_t>(i)];
  }
  return {info.ptr, info.size * info.itemsize};
}

}  // namespace

PYBIND11_MODULE(_mpi, mod) {
  mod.doc() = "fastann MPI support (private: use fastann.distributed)";
  py::module_::import("fastann._core");  // registers the GradientReducer base class

  mod.def("is_active", &mpi_active, "MPI is initialised and not finalised.");
  mod.def(
      "init",
      [] {
        if (mpi_active()) return false;
        int provided = 0;
        // SERIALIZED: fit calls MPI from whichever thread runs it, never from two threads at once.
        const int rc = MPI_Init_thread(nullptr, nullptr, MPI_THREAD_SERIALIZED, &provided);
        if (rc != MPI_SUCCESS) throw fastann::DistributedError("fastann.distributed: MPI_Init_thread failed");
        return true;
      },
      "Initialises MPI (MPI_THREAD_SERIALIZED) unless it is already; True when this call did.");
  mod.def("finalize", [] {
    if (mpi_active()) MPI_Finalize();
  });
  mod.def(
      "abort",
      [](int code) {
        if (mpi_active()) MPI_Abort(MPI_COMM_WORLD, code);
      },
      py::arg("code"), "Ends every process of the job (MPI_Abort on MPI_COMM_WORLD).");
  mod.def("library_version", [] {
    char buf[MPI_MAX_LIBRARY_VERSION_STRING + 1] = {};
    int len = 0;
    MPI_Get_library_version(buf, &len);
    return std::string(buf, static_cast<size_t>(len));
  });

  py::class_<MpiReducer, fastann::GradientReducer, std::shared_ptr<MpiReducer>>(mod, "MpiReducer")
      .def(py::init([](py::object comm_address, double timeout, bool overlap) {
             MPI_Comm comm = MPI_COMM_WORLD;
             // mpi4py: MPI._addressof(comm) is the address of its MPI_Comm handle.
             if (!comm_address.is_none()) comm = *reinterpret_cast<MPI_Comm*>(comm_address.cast<uintptr_t>());
             py::gil_scoped_release release;
             return std::make_shared<MpiReducer>(comm, timeout, overlap);
           }),
           py::arg("comm_address"), py::arg("timeout"), py::arg("overlap"),
           "comm_address: mpi4py's MPI._addressof(comm), or None for MPI_COMM_WORLD (collective).")
      .def_property_readonly("rank", &MpiReducer::rank)
      .def_property_readonly("size", &MpiReducer::size)
      .def_property_readonly("timeout", &MpiReducer::timeout)
      .def_property_readonly("overlap", &MpiReducer::overlap)
      .def_property_readonly("failed", &MpiReducer::failed)
      .def(
          "broadcast",
          [](MpiReducer& r, const py::buffer& buf, int root) {
            const auto [ptr, bytes] = writable(buf, "broadcast");
            py::gil_scoped_release release;
            r.broadcast(ptr, bytes, root);
          },
          py::arg("array"), py::arg("root") = 0, "root's array into every process's array, in place.")
      .def(
          "allreduce_sum",
          [](MpiReducer& r, const py::buffer& buf) {
            py::buffer_info info = buf.request(true);
            if (info.format != py::format_descriptor<double>::format()) {
              throw fastann::TypeError("allreduce_sum: the array must hold float64");
            }
            const auto [ptr, bytes] = writable(buf, "allreduce_sum");
            py::gil_scoped_release release;
            r.reduce_sums(static_cast<double*>(ptr), bytes / static_cast<int64_t>(sizeof(double)));
          },
          py::arg("array"), "Sums a float64 array over all processes, in place.")
      .def(
          "allreduce_mean",
          [](MpiReducer& r, const py::buffer& buf) {
            py::buffer_info info = buf.request(true);
            if (info.format != py::format_descriptor<float>::format()) {
              throw fastann::TypeError("allreduce_mean: the array must hold float32");
            }
            const auto [ptr, bytes] = writable(buf, "allreduce_mean");
            py::gil_scoped_release release;
            r.reduce(static_cast<float*>(ptr), bytes / static_cast<int64_t>(sizeof(float)));
          },
          py::arg("array"), "Averages a float32 array over all processes, in place (what fit does per step).")
      .def("barrier", [](MpiReducer& r) {
        py::gil_scoped_release release;
        r.barrier();
      });
}

// fastann._core's library-wide settings and facts: threads, input checks, the dataset memory limit, how the module
// was built (CUDA), device names, the random seed and the CPU kernels' instruction set.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings/bind.hpp"
#include "core/env.hpp"
#include "core/fault.hpp"
#include "fastann/fastann.hpp"
#include "ops/runtime.hpp"
#include "runtime/backend.hpp"

void bind_runtime(py::module_& mod) {
  mod.def("set_num_threads", &fastann::set_num_threads, py::arg("n"), "Threads used by the CPU kernels.");
  mod.def("get_num_threads", &fastann::get_num_threads);
  mod.def("_fail_allocation_after", &fastann::fault::fail_allocation_after, py::arg("n"),
          "Tests only: the next n tensor allocations succeed and the one after raises MemoryError (n < 0 disarms).");
  mod.def("_allocation_failure_pending", &fastann::fault::allocation_failure_pending,
          "Tests only: whether an armed allocation failure has not happened yet.");
  mod.def("_fail_thread_creation_after", &fastann::fault::fail_thread_creation_after, py::arg("n"),
          "Tests only: the next n CPU worker threads start and the one after fails as at the thread limit (n < 0 "
          "disarms).");
  mod.def("_set_collect_warnings", &fastann::env::set_collect_warnings, py::arg("collect"),
          "Queue the core's warnings (about the environment, the thread count) for _take_warnings instead of "
          "writing them to stderr.");
  mod.def("_take_warnings", &fastann::env::take_warnings, "The core's warnings queued since the last call.");
  mod.def(
      "_read_environment",
      [] {
        // Reads FASTANN_NUM_THREADS and FASTANN_ISA now (each is read once per process), so that what they warn
        // about is queued at import rather than at the first kernel call.
        (void)fastann::get_num_threads();
        (void)fastann::ops::cpu_isa();
      },
      "Reads the FASTANN_* environment variables now (the package calls it at import).");
  mod.def("set_check_finite", &fastann::set_check_finite, py::arg("enabled"),
          "fit/evaluate/train_on_batch/test_on_batch reject NaN or infinity in x or y (default True).");
  mod.def("get_check_finite", &fastann::get_check_finite);
  mod.def("set_dataset_memory_limit", &fastann::set_dataset_memory_limit, py::arg("bytes"),
          "Most bytes of data fit copies to a CUDA model's device (-1: half its free memory; 0: always stream).");
  mod.def("dataset_memory_limit", &fastann::dataset_memory_limit);
  mod.attr("CUDA_BUILT") = fastann::runtime::has_backend(fastann::DeviceType::CUDA);
  {
    // How this module was configured: the FASTANN_CUDA option and the CUDA compiler CMake found ("" if none).
    py::dict info;
    info["option"] = FASTANN_CUDA_OPTION;
    info["nvcc"] = FASTANN_CUDA_COMPILER;
    info["architectures"] = FASTANN_CUDA_ARCHITECTURES;
    mod.attr("CUDA_BUILD_INFO") = info;
  }
  // The pybind11 this module was compiled with: the signatures (and so the generated stubs, tools/gen_stubs.py)
  // depend on it.
  mod.attr("_PYBIND11_VERSION") = PYBIND11_TOSTRING(PYBIND11_VERSION_MAJOR) "." PYBIND11_TOSTRING(
      PYBIND11_VERSION_MINOR) "." PYBIND11_TOSTRING(PYBIND11_VERSION_PATCH);
  mod.def(
      "parse_device", [](const std::string& name) { return fastann::Device::parse(name).str(); }, py::arg("name"),
      "Canonical device name ('cpu', 'cuda:N'); ValueError for anything else.");
  mod.def("set_random_seed", &fastann::set_random_seed, py::arg("seed"),
          "Seeds the global generator for weight initialisation and shuffling.");
  mod.def("cpu_isa", &fastann::ops::cpu_isa, "The instruction set the CPU kernels use: generic, avx2 or avx512.");
  mod.def("set_cpu_isa", &fastann::ops::set_cpu_isa, py::arg("name"),
          "Forces the CPU kernel path (ValueError when this CPU lacks it).");
  mod.def("cpu_isa_supported", &fastann::ops::cpu_isa_supported, py::arg("name"),
          "Whether this CPU (and this build) has the named kernel path.");
}

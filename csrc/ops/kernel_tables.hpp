// The kernel tables of an op (ops/<op>/<op>.hpp: a `Tables` struct of KernelTable members and the functions
// register_cpu(Tables&) and register_cuda(Tables&) in the same namespace), filled once, on first use, from the
// registrations of the devices this build has: cpu.cpp always; cuda.cu (or the test-only CUDA emulator) in builds
// with a CUDA backend. Thread-safe (a function-local static).
#pragma once

namespace fastann::ops {

template <typename Tables>
const Tables& kernel_tables() {
  static const Tables tables = [] {
    Tables t;
    register_cpu(t);  // found by argument-dependent lookup in the op's namespace
#if defined(FASTANN_HAS_CUDA_BACKEND)
    register_cuda(t);
#endif
    return t;
  }();
  return tables;
}

}  // namespace fastann::ops

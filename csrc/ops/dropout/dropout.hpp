// The dropout op: inverted dropout's forward (a mask from formulas.hpp) and the element-wise product its backward
// is (dx = dy * mask). dropout.cpp checks the operands and runs the kernel registered for their (device, dtype):
// cpu.cpp, cuda.cu (or the test-only CUDA emulator). A (device, dtype) with no kernel is an UnavailableError naming
// all three.
#pragma once

#include <cstdint>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"

namespace fastann::ops {

// Inverted dropout: mask[i] = 0 with probability `rate`, else 1 / (1 - rate), drawn from a counter-based hash of
// (seed, i) so the mask depends on the seed only (not on the thread count or the backend); y = x * mask. x, mask,
// y of equal size; y may be x. rate in [0, 1).
void dropout_forward(double rate, uint64_t seed, const Tensor& x, Tensor& mask, Tensor& y);
// out = a * b element-wise (equal sizes); out may be a or b.
void multiply(const Tensor& a, const Tensor& b, Tensor& out);

namespace dropout_kernels {

// Kernels on contiguous operands of one size (numel > 0) on the kernel's device.
using Forward = void (*)(double rate, uint64_t seed, const Tensor& x, Tensor& mask, Tensor& y);
using Multiply = void (*)(const Tensor& a, const Tensor& b, Tensor& out);

struct Tables {
  KernelTable<Forward> forward{"dropout"};
  KernelTable<Multiply> multiply{"multiply"};
};

// The registrations, called once when the op is first used: cpu.cpp; cuda.cu (or the test-only CUDA emulator)
// in builds with a CUDA backend.
void register_cpu(Tables& t);
void register_cuda(Tables& t);

// The CPU kernels (float32) on raw buffers, threaded; the emulator runs them on the host.
void cpu_forward(double rate, uint64_t seed, const float* x, float* mask, float* y, int64_t n);
void cpu_multiply(const float* a, const float* b, float* out, int64_t n);

}  // namespace dropout_kernels

}  // namespace fastann::ops

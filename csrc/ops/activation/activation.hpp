// The activation op: y = act(x) (element-wise, or softmax over the last axis) and its backward. The op (activation.cpp)
// checks its arguments and runs the kernel registered for the tensors' (device, dtype); the kernels are cpu.cpp and
// cuda.cu, their maths formulas.hpp. A (device, dtype) with no kernel is an UnavailableError naming all three.
#pragma once

#include <cstdint>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::ops {

// y = act(x) over the last axis (softmax) or element-wise; x and y of one size, device and dtype; y may be x.
void activation_forward(const ActParams& p, const Tensor& x, Tensor& y);
// dx = dy * act'(.): x is the activation's input and y its output (either may be undefined when not needed:
// see act_grad_from_output). dx may be dy.
void activation_backward(const ActParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx);

namespace activation_kernels {

// A forward kernel: y = act(x), both contiguous (rows, cols) on the kernel's device; y may be x. rows * cols > 0.
using Forward = void (*)(const ActParams& p, const Tensor& x, Tensor& y, int64_t rows, int64_t cols);
// A backward kernel: dx = dy * act'(.), reading y when act_grad_from_output(p), else x (the other is undefined).
using Backward = void (*)(const ActParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx,
                          int64_t rows, int64_t cols);

struct Tables {
  KernelTable<Forward> forward{"activation"};
  KernelTable<Backward> backward{"activation_backward"};
};

// The registrations, called once when the op is first used: cpu.cpp; cuda.cu (or the test-only CUDA emulator)
// in builds with a CUDA backend.
void register_cpu(Tables& t);
void register_cuda(Tables& t);

// The CPU kernels on raw float32 buffers, for the CPU GEMM epilogue (and the test-only emulator, which runs them on
// the host): forward and backward as above (x or y null when unused), and the GEMM epilogue hook, which applies an
// element-wise act (ctx: the const ActParams*) in place to a (rows, cols) block of row stride ldc.
void cpu_forward(const ActParams& p, const float* x, float* y, int64_t rows, int64_t cols);
void cpu_backward(const ActParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t rows,
                  int64_t cols);
void cpu_block(float* c, int64_t ldc, int64_t rows, int64_t cols, const void* ctx);

}  // namespace activation_kernels

}  // namespace fastann::ops

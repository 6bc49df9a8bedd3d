// The batch-norm op (the BatchNormalization layer over (rows, features)): training forward with the batch
// statistics, inference forward with the moving ones, and backward. batchnorm.cpp checks the operands and runs the
// kernel registered for their (device, dtype): cpu.cpp, cuda.cu (or the test-only CUDA emulator). Both devices
// reduce each column in row order in double, so they agree to float rounding. A (device, dtype) with no kernel is
// an UnavailableError naming all three.
#pragma once

#include <cstdint>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"

namespace fastann::ops {

// Training: the batch mean and biased variance of each column of x (rows, cols) (accumulated in double) go to
// `mean` and `invstd` = 1 / sqrt(var + eps) (cols each, kept for backward); y = x * a + (beta - mean * a) with
// a = gamma * invstd (gamma / beta null: 1 / 0); moving = moving * momentum + batch * one_minus_momentum. y may be x.
void batchnorm_forward_train(const Tensor& x, const Tensor* gamma, const Tensor* beta, float epsilon, float momentum,
                             float one_minus_momentum, Tensor& mean, Tensor& invstd, Tensor& moving_mean,
                             Tensor& moving_variance, Tensor& y);
// Inference: y = x * a + (beta - mean * a), a = gamma / sqrt(variance + eps) (the moving statistics). y may be x.
void batchnorm_forward_infer(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& mean,
                             const Tensor& variance, float epsilon, Tensor& y);
// Backward of batchnorm_forward_train (x, mean, invstd as there): dgamma = sum dy * xhat, dbeta = sum dy,
// dx = gamma * invstd / n * (n * dy - dbeta - xhat * dgamma), xhat = (x - mean) * invstd. Null outputs are skipped;
// dx may be dy.
void batchnorm_backward(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor* gamma,
                        const Tensor& dy, Tensor* dgamma, Tensor* dbeta, Tensor* dx);

namespace batchnorm_kernels {

// Kernels with the ops' arguments, checked: x (rows > 0, cols > 0) and the per-feature vectors on the kernel's device.
using Train = void (*)(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, float momentum,
                       float one_minus_momentum, Tensor& mean, Tensor& invstd, Tensor& moving_mean, Tensor& moving_var,
                       Tensor& y);
using Infer = void (*)(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& mean, const Tensor& var,
                       float eps, Tensor& y);
using Backward = void (*)(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor* gamma,
                          const Tensor& dy, Tensor* dgamma, Tensor* dbeta, Tensor* dx);

struct Tables {
  KernelTable<Train> train{"batchnorm"};
  KernelTable<Infer> infer{"batchnorm"};
  KernelTable<Backward> backward{"batchnorm_backward"};
};

// The registrations, called once when the op is first used: cpu.cpp; cuda.cu (or the test-only CUDA emulator)
// in builds with a CUDA backend.
void register_cpu(Tables& t);
void register_cuda(Tables& t);

// The CPU kernels on raw float32 buffers for the columns [c0, c1) of x (rows, cols), single-threaded; gamma / beta
// (and backward's outputs) may be null. The emulator runs them on the host.
void cpu_train_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* gamma,
                    const float* beta, float eps, float momentum, float one_minus_momentum, float* mean, float* invstd,
                    float* moving_mean, float* moving_var, float* y);
void cpu_infer_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* gamma,
                    const float* beta, const float* mean, const float* var, float eps, float* y);
void cpu_backward_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* mean,
                       const float* invstd, const float* gamma, const float* dy, float* dgamma, float* dbeta,
                       float* dx);

}  // namespace batchnorm_kernels

}  // namespace fastann::ops

// Batch normalisation (BatchNormalization layer) on the GPU: one thread per column walks the rows in order and
// keeps the statistics in double, the arithmetic of the CPU kernels (csrc/cpu/ops/layer_ops.cpp), so the two devices
// agree to float rounding. A warp's threads read 32 consecutive columns of a row: coalesced. The parallelism is the
// number of features; that suits the batch sizes batch norm is trained with, and replaces two host round trips per
// layer and step.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/backend.hpp"
#include "cuda/internal.hpp"

namespace fastann::cuda {

namespace {

constexpr int kThreads = 128;

__global__ void bn_train_kernel(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                                float eps, float momentum, float one_minus_momentum, float* mean, float* invstd,
                                float* moving_mean, float* moving_var, float* y) {
  const double inv_n = 1.0 / static_cast<double>(rows);
  FASTANN_GRID_STRIDE(c, cols) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s += x[r * cols + c];
    s *= inv_n;
    double q = 0.0;
    for (int64_t r = 0; r < rows; ++r) {  // two passes: the variance of the centred values
      const double d = x[r * cols + c] - s;
      q += d * d;
    }
    const auto m = static_cast<float>(s);
    const auto v = static_cast<float>(q * inv_n);
    const float is = 1.0f / sqrtf(v + eps);
    mean[c] = m;
    invstd[c] = is;
    const float a = gamma ? gamma[c] * is : is;
    const float sh = (beta ? beta[c] : 0.0f) - m * a;
    moving_mean[c] = moving_mean[c] * momentum + m * one_minus_momentum;
    moving_var[c] = moving_var[c] * momentum + v * one_minus_momentum;
    for (int64_t r = 0; r < rows; ++r) y[r * cols + c] = x[r * cols + c] * a + sh;
  }
}

__global__ void bn_infer_kernel(const float* x, int64_t rows, int64_t cols, const float* gamma, const float* beta,
                                const float* mean, const float* var, float eps, float* y) {
  FASTANN_GRID_STRIDE(c, cols) {
    const float is = 1.0f / sqrtf(var[c] + eps);
    const float a = gamma ? gamma[c] * is : is;
    const float sh = (beta ? beta[c] : 0.0f) - mean[c] * a;
    for (int64_t r = 0; r < rows; ++r) y[r * cols + c] = x[r * cols + c] * a + sh;
  }
}

__global__ void bn_backward_kernel(const float* x, int64_t rows, int64_t cols, const float* mean,
                                   const float* invstd, const float* gamma, const float* dy, float* dgamma,
                                   float* dbeta, float* dx) {
  const double inv_n = 1.0 / static_cast<double>(rows);
  FASTANN_GRID_STRIDE(c, cols) {
    const float mc = mean[c], ic = invstd[c];
    double sdy = 0.0, sdyx = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const float xhat = (x[r * cols + c] - mc) * ic;
      const float d = dy[r * cols + c];
      sdy += d;
      sdyx += static_cast<double>(d) * xhat;
    }
    if (dgamma) dgamma[c] = static_cast<float>(sdyx);
    if (dbeta) dbeta[c] = static_cast<float>(sdy);
    if (!dx) continue;
    const float f = gamma ? gamma[c] * ic : ic;
    const auto mdy = static_cast<float>(sdy * inv_n);
    const auto mdyx = static_cast<float>(sdyx * inv_n);
    for (int64_t r = 0; r < rows; ++r) {  // dx may be dy: each element is read before it is written
      const float xhat = (x[r * cols + c] - mc) * ic;
      dx[r * cols + c] = f * (dy[r * cols + c] - mdy - xhat * mdyx);
    }
  }
}

}  // namespace

void batchnorm_forward_train(int device, const float* x, int64_t rows, int64_t cols, const float* gamma,
                             const float* beta, float eps, float momentum, float one_minus_momentum, float* mean,
                             float* invstd, float* moving_mean, float* moving_var, float* y) {
  if (rows <= 0 || cols <= 0) return;
  DeviceGuard g(device);
  bn_train_kernel<<<blocks_for(cols, kThreads), kThreads, 0, stream()>>>(
      x, rows, cols, gamma, beta, eps, momentum, one_minus_momentum, mean, invstd, moving_mean, moving_var, y);
  FASTANN_CUDA_CHECK_LAUNCH("batchnorm");
}

void batchnorm_forward_infer(int device, const float* x, int64_t rows, int64_t cols, const float* gamma,
                             const float* beta, const float* mean, const float* var, float eps, float* y) {
  if (rows <= 0 || cols <= 0) return;
  DeviceGuard g(device);
  bn_infer_kernel<<<blocks_for(cols, kThreads), kThreads, 0, stream()>>>(x, rows, cols, gamma, beta, mean, var,
                                                                           eps, y);
  FASTANN_CUDA_CHECK_LAUNCH("batchnorm");
}

void batchnorm_backward(int device, const float* x, int64_t rows, int64_t cols, const float* mean,
                        const float* invstd, const float* gamma, const float* dy, float* dgamma, float* dbeta,
                        float* dx) {
  if (rows <= 0 || cols <= 0) return;
  DeviceGuard g(device);
  bn_backward_kernel<<<blocks_for(cols, kThreads), kThreads, 0, stream()>>>(x, rows, cols, mean, invstd, gamma, dy,
                                                                              dgamma, dbeta, dx);
  FASTANN_CUDA_CHECK_LAUNCH("batchnorm_backward");
}

}  // namespace fastann::cuda

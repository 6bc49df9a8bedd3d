// Batch normalisation (BatchNormalization layer) on the GPU: one thread per column walks the rows in order and
// keeps the statistics in double, the arithmetic of the CPU kernels (cpu.cpp), so the two devices
// agree to float rounding. A warp's threads read 32 consecutive columns of a row: coalesced. The parallelism is the
// number of features; that suits the batch sizes batch norm is trained with, and replaces two host round trips per
// layer and step.
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/internal.hpp"
#include "ops/batchnorm/batchnorm.hpp"

namespace fastann::ops::batchnorm_kernels {

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

__global__ void bn_backward_kernel(const float* x, int64_t rows, int64_t cols, const float* mean, const float* invstd,
                                   const float* gamma, const float* dy, float* dgamma, float* dbeta, float* dx) {
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

const float* in(const Tensor* t) { return t ? t->data<float>() : nullptr; }
float* out(Tensor* t) { return t ? t->data<float>() : nullptr; }

void train_f32(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, float momentum,
               float one_minus_momentum, Tensor& mean, Tensor& invstd, Tensor& moving_mean, Tensor& moving_var,
               Tensor& y) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  cuda::DeviceGuard g(x.device().index);
  bn_train_kernel<<<cuda::blocks_for(cols, kThreads), kThreads, 0, cuda::stream()>>>(
      x.data<float>(), rows, cols, in(gamma), in(beta), eps, momentum, one_minus_momentum, mean.data<float>(),
      invstd.data<float>(), moving_mean.data<float>(), moving_var.data<float>(), y.data<float>());
  FASTANN_CUDA_CHECK_LAUNCH("batchnorm");
}

void infer_f32(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& mean, const Tensor& var,
               float eps, Tensor& y) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  cuda::DeviceGuard g(x.device().index);
  bn_infer_kernel<<<cuda::blocks_for(cols, kThreads), kThreads, 0, cuda::stream()>>>(
      x.data<float>(), rows, cols, in(gamma), in(beta), mean.data<float>(), var.data<float>(), eps, y.data<float>());
  FASTANN_CUDA_CHECK_LAUNCH("batchnorm");
}

void backward_f32(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor* gamma, const Tensor& dy,
                  Tensor* dgamma, Tensor* dbeta, Tensor* dx) {
  const int64_t rows = x.dim(0), cols = x.dim(1);
  cuda::DeviceGuard g(x.device().index);
  bn_backward_kernel<<<cuda::blocks_for(cols, kThreads), kThreads, 0, cuda::stream()>>>(
      x.data<float>(), rows, cols, mean.data<float>(), invstd.data<float>(), in(gamma), dy.data<float>(), out(dgamma),
      out(dbeta), out(dx));
  FASTANN_CUDA_CHECK_LAUNCH("batchnorm_backward");
}

}  // namespace

void register_cuda(Tables& t) {
  t.train.add(DeviceType::CUDA, DType::float32, &train_f32);
  t.infer.add(DeviceType::CUDA, DType::float32, &infer_f32);
  t.backward.add(DeviceType::CUDA, DType::float32, &backward_f32);
}

}  // namespace fastann::ops::batchnorm_kernels

// The batch-norm op's CPU kernels (float32). The statistics are reduced per column in row order, in double, by one
// thread per block of 64 columns (the per-column accumulators stay on the stack), so results do not depend on the
// thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/threadpool.hpp"
#include "ops/batchnorm/batchnorm.hpp"

namespace fastann::ops::batchnorm_kernels {

namespace {

constexpr int64_t kColBlock = 64;  // columns reduced together

}  // namespace

void cpu_train_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* gamma,
                    const float* beta, float eps, float momentum, float one_minus_momentum, float* mean, float* invstd,
                    float* moving_mean, float* moving_var, float* y) {
  for (int64_t b0 = c0; b0 < c1; b0 += kColBlock) {
    const int64_t w = std::min(kColBlock, c1 - b0);
    double s[kColBlock] = {}, q[kColBlock] = {};
    float a[kColBlock], sh[kColBlock];
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols + b0;
      for (int64_t k = 0; k < w; ++k) s[k] += xr[k];
    }
    const double inv_n = 1.0 / static_cast<double>(rows);
    for (int64_t k = 0; k < w; ++k) s[k] *= inv_n;
    for (int64_t r = 0; r < rows; ++r) {  // two passes: the variance of the centred values
      const float* xr = x + r * cols + b0;
      for (int64_t k = 0; k < w; ++k) {
        const double d = xr[k] - s[k];
        q[k] += d * d;
      }
    }
    for (int64_t k = 0; k < w; ++k) {
      const int64_t c = b0 + k;
      const auto m = static_cast<float>(s[k]);
      const auto v = static_cast<float>(q[k] * inv_n);
      const float is = 1.0f / std::sqrt(v + eps);
      mean[c] = m;
      invstd[c] = is;
      a[k] = gamma ? gamma[c] * is : is;
      sh[k] = (beta ? beta[c] : 0.0f) - m * a[k];
      moving_mean[c] = moving_mean[c] * momentum + m * one_minus_momentum;
      moving_var[c] = moving_var[c] * momentum + v * one_minus_momentum;
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols + b0;
      float* yr = y + r * cols + b0;
      for (int64_t k = 0; k < w; ++k) yr[k] = xr[k] * a[k] + sh[k];
    }
  }
}

void cpu_infer_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* gamma,
                    const float* beta, const float* mean, const float* var, float eps, float* y) {
  for (int64_t b0 = c0; b0 < c1; b0 += kColBlock) {
    const int64_t w = std::min(kColBlock, c1 - b0);
    float a[kColBlock], sh[kColBlock];
    for (int64_t k = 0; k < w; ++k) {
      const int64_t c = b0 + k;
      const float is = 1.0f / std::sqrt(var[c] + eps);
      a[k] = gamma ? gamma[c] * is : is;
      sh[k] = (beta ? beta[c] : 0.0f) - mean[c] * a[k];
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols + b0;
      float* yr = y + r * cols + b0;
      for (int64_t k = 0; k < w; ++k) yr[k] = xr[k] * a[k] + sh[k];
    }
  }
}

void cpu_backward_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* mean,
                       const float* invstd, const float* gamma, const float* dy, float* dgamma, float* dbeta,
                       float* dx) {
  for (int64_t b0 = c0; b0 < c1; b0 += kColBlock) {
    const int64_t w = std::min(kColBlock, c1 - b0);
    double sdy[kColBlock] = {}, sdyx[kColBlock] = {};
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols + b0;
      const float* dr = dy + r * cols + b0;
      for (int64_t k = 0; k < w; ++k) {
        const float xhat = (xr[k] - mean[b0 + k]) * invstd[b0 + k];
        sdy[k] += dr[k];
        sdyx[k] += static_cast<double>(dr[k]) * xhat;
      }
    }
    float f[kColBlock], mdy[kColBlock], mdyx[kColBlock];
    const double inv_n = 1.0 / static_cast<double>(rows);
    for (int64_t k = 0; k < w; ++k) {
      const int64_t c = b0 + k;
      if (dgamma) dgamma[c] = static_cast<float>(sdyx[k]);
      if (dbeta) dbeta[c] = static_cast<float>(sdy[k]);
      f[k] = gamma ? gamma[c] * invstd[c] : invstd[c];
      mdy[k] = static_cast<float>(sdy[k] * inv_n);
      mdyx[k] = static_cast<float>(sdyx[k] * inv_n);
    }
    if (!dx) continue;
    for (int64_t r = 0; r < rows; ++r) {
      const float* xr = x + r * cols + b0;
      const float* dr = dy + r * cols + b0;
      float* out = dx + r * cols + b0;
      for (int64_t k = 0; k < w; ++k) {
        const float xhat = (xr[k] - mean[b0 + k]) * invstd[b0 + k];
        out[k] = f[k] * (dr[k] - mdy[k] - xhat * mdyx[k]);
      }
    }
  }
}

namespace {

// Blocks of columns for the kernels above: each column is reduced by one thread, in row order.
template <typename F>
void over_columns(int64_t rows, int64_t cols, const F& f) {
  const int64_t block = kColBlock;
  const int64_t blocks = (cols + block - 1) / block;
  const int64_t grain = std::max<int64_t>(1, 32768 / std::max<int64_t>(1, rows * block));
  cpu::parallel_for(blocks, grain, [&](int64_t b, int64_t e) { f(b * block, std::min(cols, e * block)); });
}

const float* in(const Tensor* t) { return t ? t->data<float>() : nullptr; }
float* out(Tensor* t) { return t ? t->data<float>() : nullptr; }

void train_f32(const Tensor& x, const Tensor* gamma, const Tensor* beta, float eps, float momentum,
               float one_minus_momentum, Tensor& mean, Tensor& invstd, Tensor& moving_mean, Tensor& moving_var,
               Tensor& y) {
  const cpu::FlushDenormalsScope flush;
  const int64_t rows = x.dim(0), cols = x.dim(1);
  over_columns(rows, cols, [&](int64_t c0, int64_t c1) {
    cpu_train_cols(x.data<float>(), rows, cols, c0, c1, in(gamma), in(beta), eps, momentum, one_minus_momentum,
                   mean.data<float>(), invstd.data<float>(), moving_mean.data<float>(), moving_var.data<float>(),
                   y.data<float>());
  });
}

void infer_f32(const Tensor& x, const Tensor* gamma, const Tensor* beta, const Tensor& mean, const Tensor& var,
               float eps, Tensor& y) {
  const cpu::FlushDenormalsScope flush;
  const int64_t rows = x.dim(0), cols = x.dim(1);
  over_columns(rows, cols, [&](int64_t c0, int64_t c1) {
    cpu_infer_cols(x.data<float>(), rows, cols, c0, c1, in(gamma), in(beta), mean.data<float>(), var.data<float>(), eps,
                   y.data<float>());
  });
}

void backward_f32(const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor* gamma, const Tensor& dy,
                  Tensor* dgamma, Tensor* dbeta, Tensor* dx) {
  const cpu::FlushDenormalsScope flush;
  const int64_t rows = x.dim(0), cols = x.dim(1);
  over_columns(rows, cols, [&](int64_t c0, int64_t c1) {
    cpu_backward_cols(x.data<float>(), rows, cols, c0, c1, mean.data<float>(), invstd.data<float>(), in(gamma),
                      dy.data<float>(), out(dgamma), out(dbeta), out(dx));
  });
}

}  // namespace

void register_cpu(Tables& t) {
  t.train.add(DeviceType::CPU, DType::float32, &train_f32);
  t.infer.add(DeviceType::CPU, DType::float32, &infer_f32);
  t.backward.add(DeviceType::CPU, DType::float32, &backward_f32);
}

}  // namespace fastann::ops::batchnorm_kernels

// Kernels of the Dropout and BatchNormalization layers and of the L1/L2 regularizers (CPU).
//
// Dropout masks come from a counter-based hash of (seed, element index): any split of the elements between threads
// (or a GPU grid) gives the same mask. Batch-norm statistics are reduced per column in row order, in double, by one
// thread per block of columns, so results do not depend on the thread count.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "cpu/ops/kernels.hpp"

namespace fastann::cpu {

namespace {

constexpr int64_t kColBlock = 64;  // columns reduced together: per-column accumulators stay on the stack

inline uint64_t mix64(uint64_t z) {  // splitmix64's finaliser
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

}  // namespace

void dropout_forward(double rate, uint64_t seed, const float* x, float* mask, float* y, int64_t offset, int64_t n) {
  const auto scale = static_cast<float>(1.0 / (1.0 - rate));
  // keep when u >= rate, u uniform in [0, 1) with 24 bits: compare the integers (u * 2^24 >= ceil(rate * 2^24)).
  const auto threshold = static_cast<uint64_t>(std::ceil(rate * 16777216.0));
  const uint64_t base = mix64(seed ^ 0x6A09E667F3BCC909ULL);
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t h = mix64(base + static_cast<uint64_t>(offset + i + 1) * 0x9E3779B97F4A7C15ULL);
    const float m = (h >> 40) >= threshold ? scale : 0.0f;
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

void multiply(const float* a, const float* b, float* out, int64_t n) {
  for (int64_t i = 0; i < n; ++i) out[i] = a[i] * b[i];
}

void batchnorm_train_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* gamma,
                          const float* beta, float eps, float momentum, float one_minus_momentum, float* mean,
                          float* invstd, float* moving_mean, float* moving_var, float* y) {
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

void batchnorm_infer_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* gamma,
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

void batchnorm_backward_cols(const float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, const float* mean,
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

double regularizer(float l1, float l2, const float* w, float* g, float grad_scale, int64_t n) {
  double s1 = 0.0, s2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    s1 += std::fabs(w[i]);
    s2 += static_cast<double>(w[i]) * w[i];
  }
  if (g) {
    const float c1 = l1 * grad_scale, c2 = 2.0f * l2 * grad_scale;
    for (int64_t i = 0; i < n; ++i) {
      const float wi = w[i];
      const float sg = wi > 0.0f ? 1.0f : (wi < 0.0f ? -1.0f : 0.0f);
      g[i] += c1 * sg + c2 * wi;
    }
  }
  return static_cast<double>(l1) * s1 + static_cast<double>(l2) * s2;
}

}  // namespace fastann::cpu

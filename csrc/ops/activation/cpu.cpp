// Activation forward/backward kernels (CPU).
#include <algorithm>
#include <cmath>

#include "cpu/ops/kernels.hpp"
#include "cpu/threadpool.hpp"

namespace fastann::cpu {

namespace {

using ops::Act;

constexpr float kSeluAlpha = 1.6732632423543772f;
constexpr float kSeluScale = 1.0507009873554805f;
constexpr float kInvSqrt2 = 0.7071067811865476f;
constexpr float kInvSqrt2Pi = 0.3989422804014327f;

inline float sigmoid(float x) {
  if (x >= 0.0f) return 1.0f / (1.0f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.0f + e);
}

template <Act K>
inline float fwd(float x, float alpha) {
  if constexpr (K == Act::linear) return x;
  if constexpr (K == Act::relu) return x > 0.0f ? x : 0.0f;
  if constexpr (K == Act::sigmoid) return sigmoid(x);
  if constexpr (K == Act::tanh) return std::tanh(x);
  if constexpr (K == Act::leaky_relu) return x > 0.0f ? x : alpha * x;
  if constexpr (K == Act::elu) return x > 0.0f ? x : alpha * std::expm1(x);
  if constexpr (K == Act::selu) return x > 0.0f ? kSeluScale * x : kSeluScale * kSeluAlpha * std::expm1(x);
  if constexpr (K == Act::gelu) return 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
  if constexpr (K == Act::softplus) return std::max(x, 0.0f) + std::log1p(std::exp(-std::fabs(x)));
  if constexpr (K == Act::swish) return x * sigmoid(x);
  return x;
}

// Derivative given the input x and the output y (each kind reads the one ops::act_grad_from_output says).
template <Act K>
inline float deriv(float x, float y, float alpha) {
  if constexpr (K == Act::linear) return 1.0f;
  if constexpr (K == Act::relu) return y > 0.0f ? 1.0f : 0.0f;
  if constexpr (K == Act::sigmoid) return y * (1.0f - y);
  if constexpr (K == Act::tanh) return 1.0f - y * y;
  if constexpr (K == Act::leaky_relu) return x > 0.0f ? 1.0f : alpha;
  if constexpr (K == Act::elu) return x > 0.0f ? 1.0f : alpha * std::exp(x);
  if constexpr (K == Act::selu) return y > 0.0f ? kSeluScale : y + kSeluScale * kSeluAlpha;
  if constexpr (K == Act::gelu) {
    return 0.5f * (1.0f + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5f * x * x);
  }
  if constexpr (K == Act::softplus) return sigmoid(x);
  if constexpr (K == Act::swish) {
    const float s = sigmoid(x);
    return s * (1.0f + x * (1.0f - s));
  }
  return 1.0f;
}

// In-place calls (x == y, the GEMM epilogue) get their own loop: with two pointers that are equal, the compiler's
// run-time overlap check fails and it would run the scalar (branchy) loop instead of the vectorised one.
template <Act K>
void fwd_block(const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows, int64_t cols, float alpha) {
  if (x == y && ldx == ldy) {
    for (int64_t i = 0; i < rows; ++i) {
      float* yr = y + i * ldy;
      for (int64_t j = 0; j < cols; ++j) yr[j] = fwd<K>(yr[j], alpha);
    }
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    float* yr = y + i * ldy;
    for (int64_t j = 0; j < cols; ++j) yr[j] = fwd<K>(xr[j], alpha);
  }
}

void fwd_dispatch(const ops::ActParams& p, const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows,
                  int64_t cols) {
  const float a = p.alpha;
  switch (p.kind) {
    case Act::linear:
      if (x != y) fwd_block<Act::linear>(x, ldx, y, ldy, rows, cols, a);
      return;
    case Act::relu: return fwd_block<Act::relu>(x, ldx, y, ldy, rows, cols, a);
    case Act::sigmoid: return fwd_block<Act::sigmoid>(x, ldx, y, ldy, rows, cols, a);
    case Act::tanh: return fwd_block<Act::tanh>(x, ldx, y, ldy, rows, cols, a);
    case Act::leaky_relu: return fwd_block<Act::leaky_relu>(x, ldx, y, ldy, rows, cols, a);
    case Act::elu: return fwd_block<Act::elu>(x, ldx, y, ldy, rows, cols, a);
    case Act::selu: return fwd_block<Act::selu>(x, ldx, y, ldy, rows, cols, a);
    case Act::gelu: return fwd_block<Act::gelu>(x, ldx, y, ldy, rows, cols, a);
    case Act::softplus: return fwd_block<Act::softplus>(x, ldx, y, ldy, rows, cols, a);
    case Act::swish: return fwd_block<Act::swish>(x, ldx, y, ldy, rows, cols, a);
    case Act::softmax: break;
  }
  // Softmax over each row: subtract the row max, exponentiate, normalise (sum in double).
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    float* yr = y + i * ldy;
    float m = xr[0];
    for (int64_t j = 1; j < cols; ++j) m = std::max(m, xr[j]);
    double sum = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      yr[j] = std::exp(xr[j] - m);
      sum += yr[j];
    }
    const float inv = static_cast<float>(1.0 / sum);
    for (int64_t j = 0; j < cols; ++j) yr[j] *= inv;
  }
}

// dx = dy * act'(.) from the output y (kinds with ops::act_grad_from_output) or from the input x (the others).
// No pointer checks inside the loops, so they vectorise (relu's derivative becomes a compare-and-mask).
// Each has an in-place loop (dx == dy, the layers' usual call; see fwd_block) besides the general one.
template <Act K>
void bwd_from_y(const float* y, const float* dy, float* dx, int64_t n, float alpha) {
  if (dx == dy) {
    for (int64_t i = 0; i < n; ++i) dx[i] *= deriv<K>(0.0f, y[i], alpha);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * deriv<K>(0.0f, y[i], alpha);
}

template <Act K>
void bwd_from_x(const float* x, const float* dy, float* dx, int64_t n, float alpha) {
  if (dx == dy) {
    for (int64_t i = 0; i < n; ++i) dx[i] *= deriv<K>(x[i], 0.0f, alpha);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * deriv<K>(x[i], 0.0f, alpha);
}

// Element-wise backward over elements [0, n) (softmax is handled by the caller).
void bwd_elementwise(const ops::ActParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t n) {
  const float a = p.alpha;
  switch (p.kind) {
    case Act::linear:
      if (dx != dy) std::copy(dy, dy + n, dx);
      return;
    case Act::relu: return bwd_from_y<Act::relu>(y, dy, dx, n, a);
    case Act::sigmoid: return bwd_from_y<Act::sigmoid>(y, dy, dx, n, a);
    case Act::tanh: return bwd_from_y<Act::tanh>(y, dy, dx, n, a);
    case Act::selu: return bwd_from_y<Act::selu>(y, dy, dx, n, a);
    case Act::gelu: return bwd_from_x<Act::gelu>(x, dy, dx, n, a);
    case Act::softplus: return bwd_from_x<Act::softplus>(x, dy, dx, n, a);
    case Act::swish: return bwd_from_x<Act::swish>(x, dy, dx, n, a);
    case Act::leaky_relu:
    case Act::elu:
      if (x != nullptr) {
        if (p.kind == Act::leaky_relu) return bwd_from_x<Act::leaky_relu>(x, dy, dx, n, a);
        return bwd_from_x<Act::elu>(x, dy, dx, n, a);
      }
      // From the output (alpha > 0): y > 0 exactly when x > 0; elu's alpha*exp(x) equals y + alpha.
      if (dx != dy) std::copy(dy, dy + n, dx);  // then in place (see fwd_block)
      if (p.kind == Act::leaky_relu) {
        for (int64_t i = 0; i < n; ++i) dx[i] *= y[i] > 0.0f ? 1.0f : a;
      } else {
        for (int64_t i = 0; i < n; ++i) dx[i] *= y[i] > 0.0f ? 1.0f : y[i] + a;
      }
      return;
    case Act::softmax:
      return;
  }
}

// Element-wise work of at least this many elements is split over the thread pool (chunks are independent, so the
// result does not depend on the thread count).
constexpr int64_t kParallelGrain = 32 * 1024;

}  // namespace

void activation_forward(const ops::ActParams& p, const float* x, float* y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  if (p.kind == Act::softmax) {  // rows are independent
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / cols), [&](int64_t b, int64_t e) {
      fwd_dispatch(p, x + b * cols, cols, y + b * cols, cols, e - b, cols);
    });
    return;
  }
  // Element-wise: the buffers are contiguous, so treat them as one flat row split into chunks.
  parallel_for(rows * cols, kParallelGrain, [&](int64_t b, int64_t e) {
    fwd_dispatch(p, x + b, e - b, y + b, e - b, 1, e - b);
  });
}

void activation_block(float* c, int64_t ldc, int64_t rows, int64_t cols, const void* ctx) {
  const auto& p = *static_cast<const ops::ActParams*>(ctx);
  fwd_dispatch(p, c, ldc, c, ldc, rows, cols);
}

void activation_backward(const ops::ActParams& p, const float* x, const float* y, const float* dy, float* dx,
                         int64_t rows, int64_t cols) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  if (p.kind == Act::softmax) {
    // Vector-Jacobian product of a row softmax: dx = y * (dy - <dy, y>); rows are independent.
    parallel_for(rows, std::max<int64_t>(1, kParallelGrain / cols), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) {
        const float* yr = y + i * cols;
        const float* dyr = dy + i * cols;
        float* dxr = dx + i * cols;
        double dot = 0.0;
        for (int64_t j = 0; j < cols; ++j) dot += static_cast<double>(dyr[j]) * yr[j];
        const auto d = static_cast<float>(dot);
        for (int64_t j = 0; j < cols; ++j) dxr[j] = yr[j] * (dyr[j] - d);
      }
    });
    return;
  }
  parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
    bwd_elementwise(p, x ? x + b : nullptr, y ? y + b : nullptr, dy + b, dx + b, e - b);
  });
}

void column_sum(const float* dz, float* db, int64_t rows, int64_t cols) {
  // Split over columns (each column summed by one thread, rows in order): independent of the thread count.
  const int64_t grain = std::max<int64_t>(64, kParallelGrain / std::max<int64_t>(rows, 1));
  parallel_for(cols, grain, [&](int64_t b, int64_t e) {
    float* out = db + b;
    const int64_t w = e - b;
    std::fill(out, out + w, 0.0f);
    int64_t i = 0;
    for (; i + 4 <= rows; i += 4) {  // four rows per pass over db, still added in row order
      const float* __restrict r0 = dz + i * cols + b;
      const float* __restrict r1 = r0 + cols;
      const float* __restrict r2 = r1 + cols;
      const float* __restrict r3 = r2 + cols;
      float* __restrict o = out;
      for (int64_t j = 0; j < w; ++j) o[j] = (((o[j] + r0[j]) + r1[j]) + r2[j]) + r3[j];
    }
    for (; i < rows; ++i) {
      const float* __restrict r = dz + i * cols + b;
      float* __restrict o = out;
      for (int64_t j = 0; j < w; ++j) o[j] += r[j];
    }
  });
}

void gather_rows(const float* src, const int64_t* idx, int64_t n, int64_t cols, float* dst) {
  for (int64_t i = 0; i < n; ++i) std::copy(src + idx[i] * cols, src + (idx[i] + 1) * cols, dst + i * cols);
}

}  // namespace fastann::cpu

// The activation op's CPU kernels (float32): the formulas of formulas.hpp instantiated per kind, so each loop
// vectorises; softmax per row with the sum in double. Split over the thread pool in chunks whose results do not
// depend on the thread count.
#include <algorithm>
#include <cmath>

#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/threadpool.hpp"
#include "ops/activation/activation.hpp"
#include "ops/activation/formulas.hpp"

namespace fastann::ops::activation_kernels {

namespace {

// In-place calls (x == y, the GEMM epilogue) get their own loop: with two pointers that are equal, the compiler's
// run-time overlap check fails and it would run the scalar (branchy) loop instead of the vectorised one.
template <Act K>
void fwd_block(const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows, int64_t cols, float alpha) {
  if (x == y && ldx == ldy) {
    for (int64_t i = 0; i < rows; ++i) {
      float* yr = y + i * ldy;
      for (int64_t j = 0; j < cols; ++j) yr[j] = formulas::forward<K>(yr[j], alpha);
    }
    return;
  }
  for (int64_t i = 0; i < rows; ++i) {
    const float* xr = x + i * ldx;
    float* yr = y + i * ldy;
    for (int64_t j = 0; j < cols; ++j) yr[j] = formulas::forward<K>(xr[j], alpha);
  }
}

// Softmax over each row: subtract the row max, exponentiate, normalise (sum in double).
void softmax_rows(const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows, int64_t cols) {
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

void fwd_dispatch(const ActParams& p, const float* x, int64_t ldx, float* y, int64_t ldy, int64_t rows, int64_t cols) {
  if (p.kind == Act::softmax) return softmax_rows(x, ldx, y, ldy, rows, cols);
  if (p.kind == Act::linear && x == y) return;
  formulas::visit(
      p.kind, [&](auto kind) { fwd_block<decltype(kind)::value>(x, ldx, y, ldy, rows, cols, p.alpha); },
      formulas::Elementwise{});
}

// dx = dy * act'(.) from `in` (x or y, as act_grad_from_output says). No pointer checks inside the loops, so they
// vectorise (relu's derivative becomes a compare-and-mask). In-place (dx == dy, the layers' usual call) has its
// own loop (see fwd_block).
template <Act K, bool FromOutput>
void bwd_loop(const float* in, const float* dy, float* dx, int64_t n, float alpha) {
  const auto d = [alpha](float v) {
    return FromOutput ? formulas::deriv<K>(0.0f, v, alpha, true) : formulas::deriv<K>(v, 0.0f, alpha, false);
  };
  if (dx == dy) {
    for (int64_t i = 0; i < n; ++i) dx[i] *= d(in[i]);
    return;
  }
  for (int64_t i = 0; i < n; ++i) dx[i] = dy[i] * d(in[i]);
}

// The op passes exactly one of x and y: the one act_grad_from_output(p) says the derivative reads.
template <Act K>
void bwd_kind(const float* x, const float* y, const float* dy, float* dx, int64_t n, float alpha) {
  if (x == nullptr) return bwd_loop<K, true>(y, dy, dx, n, alpha);
  bwd_loop<K, false>(x, dy, dx, n, alpha);
}

// Element-wise backward over elements [0, n) (softmax is handled by the caller).
void bwd_elementwise(const ActParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t n) {
  if (p.kind == Act::softmax) return;
  if (p.kind == Act::linear) {
    if (dx != dy) std::copy(dy, dy + n, dx);
    return;
  }
  formulas::visit(
      p.kind, [&](auto kind) { bwd_kind<decltype(kind)::value>(x, y, dy, dx, n, p.alpha); }, formulas::Elementwise{});
}

// Element-wise work of at least this many elements is split over the thread pool (chunks are independent, so the
// result does not depend on the thread count).
constexpr int64_t kParallelGrain = 32 * 1024;

const float* ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void forward_f32(const ActParams& p, const Tensor& x, Tensor& y, int64_t rows, int64_t cols) {
  cpu_forward(p, x.data<float>(), y.data<float>(), rows, cols);
}

void backward_f32(const ActParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows,
                  int64_t cols) {
  cpu_backward(p, ptr(x), ptr(y), dy.data<float>(), dx.data<float>(), rows, cols);
}

}  // namespace

void register_cpu(Tables& t) {
  t.forward.add(DeviceType::CPU, DType::float32, &forward_f32);
  t.backward.add(DeviceType::CPU, DType::float32, &backward_f32);
}

void cpu_forward(const ActParams& p, const float* x, float* y, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return;
  const cpu::FlushDenormalsScope flush;
  if (p.kind == Act::softmax) {  // rows are independent
    cpu::parallel_for(rows, std::max<int64_t>(1, kParallelGrain / cols),
                      [&](int64_t b, int64_t e) { softmax_rows(x + b * cols, cols, y + b * cols, cols, e - b, cols); });
    return;
  }
  // Element-wise: the buffers are contiguous, so treat them as one flat row split into chunks.
  cpu::parallel_for(rows * cols, kParallelGrain,
                    [&](int64_t b, int64_t e) { fwd_dispatch(p, x + b, e - b, y + b, e - b, 1, e - b); });
}

void cpu_block(float* c, int64_t ldc, int64_t rows, int64_t cols, const void* ctx) {
  const auto& p = *static_cast<const ActParams*>(ctx);
  fwd_dispatch(p, c, ldc, c, ldc, rows, cols);
}

void cpu_backward(const ActParams& p, const float* x, const float* y, const float* dy, float* dx, int64_t rows,
                  int64_t cols) {
  const int64_t n = rows * cols;
  if (n <= 0) return;
  const cpu::FlushDenormalsScope flush;
  if (p.kind == Act::softmax) {
    // Vector-Jacobian product of a row softmax: dx = y * (dy - <dy, y>); rows are independent.
    cpu::parallel_for(rows, std::max<int64_t>(1, kParallelGrain / cols), [&](int64_t b, int64_t e) {
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
  cpu::parallel_for(n, kParallelGrain, [&](int64_t b, int64_t e) {
    bwd_elementwise(p, x ? x + b : nullptr, y ? y + b : nullptr, dy + b, dx + b, e - b);
  });
}

}  // namespace fastann::ops::activation_kernels

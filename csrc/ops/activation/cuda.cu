// The activation op's CUDA kernels (float32): the formulas of formulas.hpp in grid-stride loops over int64 indices;
// softmax with one warp per row and the sums in double, as the CPU kernels do.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>

#include "backends/cuda/internal.hpp"
#include "ops/activation/activation.hpp"
#include "ops/activation/formulas.hpp"

namespace fastann::ops::activation_kernels {

namespace {

using cuda::blocks_for;
using cuda::stream;

constexpr int kThreads = 256;
constexpr int kRowsPerBlock = kThreads / 32;  // softmax: one warp per row

__global__ void fwd_kernel(Act k, float alpha, const float* x, float* y, int64_t n) {
  FASTANN_GRID_STRIDE(i, n) y[i] = formulas::forward(k, x[i], alpha);
}

// Reads x when given (has_x), else y: the one the op passed (act_grad_from_output).
__global__ void bwd_kernel(Act k, float alpha, const float* x, const float* y, const float* dy, float* dx, int64_t n) {
  const bool has_x = x != nullptr;
  FASTANN_GRID_STRIDE(i, n) {
    const float d = formulas::deriv(k, has_x ? x[i] : 0.0f, has_x ? 0.0f : y[i], alpha, !has_x);
    dx[i] = dy[i] * d;
  }
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

__device__ __forceinline__ double warp_sum(double v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

__global__ void softmax_rows_kernel(const float* x, float* y, int64_t rows, int64_t cols) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* xr = x + row * cols;
  float* yr = y + row * cols;
  float m = -INFINITY;
  for (int64_t j = lane; j < cols; j += 32) m = fmaxf(m, xr[j]);
  m = warp_max(m);
  double s = 0.0;
  for (int64_t j = lane; j < cols; j += 32) {
    const float e = expf(xr[j] - m);
    yr[j] = e;
    s += e;
  }
  s = warp_sum(s);
  const float inv = static_cast<float>(1.0 / s);
  for (int64_t j = lane; j < cols; j += 32) yr[j] *= inv;
}

// dx = y * (dy - <dy, y>) per row.
__global__ void softmax_bwd_kernel(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  const int64_t row = blockIdx.x * static_cast<int64_t>(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x % 32;
  if (row >= rows) return;
  const float* yr = y + row * cols;
  const float* dyr = dy + row * cols;
  float* dxr = dx + row * cols;
  double dot = 0.0;
  for (int64_t j = lane; j < cols; j += 32) dot += static_cast<double>(dyr[j]) * yr[j];
  dot = warp_sum(dot);
  const float d = static_cast<float>(dot);
  for (int64_t j = lane; j < cols; j += 32) dxr[j] = yr[j] * (dyr[j] - d);
}

const float* ptr(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

void forward_f32(const ActParams& p, const Tensor& x, Tensor& y, int64_t rows, int64_t cols) {
  const float* xp = x.data<float>();
  float* yp = y.data<float>();
  if (p.kind == Act::linear && xp == yp) return;
  const cuda::DeviceGuard guard(x.device().index);
  if (p.kind == Act::softmax) {
    softmax_rows_kernel<<<blocks_for(rows, kRowsPerBlock, 0x7fffffffLL), kThreads, 0, stream()>>>(xp, yp, rows, cols);
  } else {
    fwd_kernel<<<blocks_for(rows * cols, kThreads), kThreads, 0, stream()>>>(p.kind, p.alpha, xp, yp, rows * cols);
  }
  FASTANN_CUDA_CHECK_LAUNCH("activation");
}

void backward_f32(const ActParams& p, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx, int64_t rows,
                  int64_t cols) {
  const cuda::DeviceGuard guard(dy.device().index);
  if (p.kind == Act::softmax) {
    softmax_bwd_kernel<<<blocks_for(rows, kRowsPerBlock, 0x7fffffffLL), kThreads, 0, stream()>>>(
        y.data<float>(), dy.data<float>(), dx.data<float>(), rows, cols);
  } else {
    bwd_kernel<<<blocks_for(rows * cols, kThreads), kThreads, 0, stream()>>>(
        p.kind, p.alpha, ptr(x), ptr(y), dy.data<float>(), dx.data<float>(), rows * cols);
  }
  FASTANN_CUDA_CHECK_LAUNCH("activation_backward");
}

}  // namespace

void register_cuda(Tables& t) {
  t.forward.add(DeviceType::CUDA, DType::float32, &forward_f32);
  t.backward.add(DeviceType::CUDA, DType::float32, &backward_f32);
}

}  // namespace fastann::ops::activation_kernels

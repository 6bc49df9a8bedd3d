// The dropout op's CUDA kernels (float32): grid-stride loops over int64 indices; the mask is formulas.hpp's, so it
// is the CPU's mask.
#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/internal.hpp"
#include "ops/dropout/dropout.hpp"
#include "ops/dropout/formulas.hpp"

namespace fastann::ops::dropout_kernels {

namespace {

constexpr int kThreads = 256;

__global__ void forward_kernel(formulas::DropoutMask m, const float* x, float* mask, float* y, int64_t n) {
  FASTANN_GRID_STRIDE(i, n) {
    const float k = formulas::dropout_mask_at(m, i);
    mask[i] = k;
    y[i] = x[i] * k;
  }
}

__global__ void multiply_kernel(const float* a, const float* b, float* out, int64_t n) {
  FASTANN_GRID_STRIDE(i, n) out[i] = a[i] * b[i];
}

void forward_f32(double rate, uint64_t seed, const Tensor& x, Tensor& mask, Tensor& y) {
  const int64_t n = x.numel();
  cuda::DeviceGuard guard(x.device().index);
  forward_kernel<<<cuda::blocks_for(n, kThreads), kThreads, 0, cuda::stream()>>>(
      formulas::dropout_mask(rate, seed), x.data<float>(), mask.data<float>(), y.data<float>(), n);
  FASTANN_CUDA_CHECK_LAUNCH("dropout");
}

void multiply_f32(const Tensor& a, const Tensor& b, Tensor& out) {
  const int64_t n = a.numel();
  cuda::DeviceGuard guard(a.device().index);
  multiply_kernel<<<cuda::blocks_for(n, kThreads), kThreads, 0, cuda::stream()>>>(a.data<float>(), b.data<float>(),
                                                                                  out.data<float>(), n);
  FASTANN_CUDA_CHECK_LAUNCH("multiply");
}

}  // namespace

void register_cuda(Tables& t) {
  t.forward.add(DeviceType::CUDA, DType::float32, &forward_f32);
  t.multiply.add(DeviceType::CUDA, DType::float32, &multiply_f32);
}

}  // namespace fastann::ops::dropout_kernels

// The matrix products' CUDA kernels (float32): the CUDA backend's GEMMs (csrc/backends/cuda/gemm.cu: tiled SIMT
// kernels, split-K, TF32 tensor cores when allowed), with the bias and the activation fused into their epilogue.
#include <algorithm>
#include <cstdint>
#include <string>

#include "backends/cuda/backend.hpp"
#include "ops/gemm/gemm.hpp"

namespace fastann::ops::gemm_kernels {

namespace {

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const Tensor& a,
              const Tensor& b, float beta, Tensor& c, const Tensor* bias, const ActParams* act) {
  // Leading dimensions of empty operands are 0; the kernels' contract wants at least 1.
  cuda::gemm(c.device().index, trans_a, trans_b, m, n, k, alpha, a.data<float>(), std::max<int64_t>(1, trans_a ? m : k),
             b.data<float>(), std::max<int64_t>(1, trans_b ? k : n), beta, c.data<float>(), n,
             bias ? bias->data<float>() : nullptr, act);
}

void batched_f32(int64_t m, int64_t n, int64_t k, const Tensor& a, const int64_t* a_off, const Tensor& b,
                 const int64_t* b_off, Tensor& c, int64_t count) {
  cuda::gemm_batched(c.device().index, m, n, k, a.data<float>(), a_off, b.data<float>(), b_off, c.data<float>(), count);
}

}  // namespace

void register_cuda(Tables& t) {
  t.gemm.add(DeviceType::CUDA, DType::float32, &gemm_f32);
  t.batched.add(DeviceType::CUDA, DType::float32, &batched_f32);
  t.plan.add(DeviceType::CUDA, DType::float32, &cuda::gemm_plan);
}

}  // namespace fastann::ops::gemm_kernels

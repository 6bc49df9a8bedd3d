// Device helpers shared by the GEMM kernels (gemm.cu: FP32 64x64 and 128x128 tiles; gemm_tf32.cu: TF32 tensor
// cores): bounds-checked operand loads and the fused epilogue, so that every kernel has the same semantics.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "ops/activation/formulas.hpp"
#include "ops/types.hpp"

namespace fastann::cuda::gemm_detail {

// min(4, max(0, rem)): how many of 4 consecutive elements exist.
__device__ __forceinline__ int clamp4(int64_t rem) { return rem >= 4 ? 4 : (rem <= 0 ? 0 : static_cast<int>(rem)); }

// Loads 4 consecutive elements p[0..3]; the first valid_count exist, the others read as 0 (p is not dereferenced
// when valid_count is 0). VEC: the caller guarantees p is 16-byte aligned whenever all 4 exist.
template <bool VEC>
__device__ __forceinline__ float4 load4(const float* p, int valid_count) {
  if (VEC && valid_count == 4) return __ldg(reinterpret_cast<const float4*>(p));
  float v[4];
#pragma unroll
  for (int q = 0; q < 4; ++q) v[q] = q < valid_count ? __ldg(p + q) : 0.0f;
  return make_float4(v[0], v[1], v[2], v[3]);
}

// Split-K (gemm.cu, plan_gemm): moves a block of a non-batched GEMM to k slice z = blockIdx.z, the k-values
// [z k_split, min(k, (z + 1) k_split)): a and b then start at the slice's first k-value, c at the slice's partial
// (z c_stride floats on), and k becomes the slice's length, so the kernels' k loops and bounds checks run unchanged
// over the slice. k_split is a multiple of 16, every kernel's k-step, so the offsets are multiples of 4 floats (of
// lda / ldb floats): they keep the 16-byte alignment the VEC loads rely on.
template <bool TA, bool TB, typename PA, typename PB, typename PC>
__device__ __forceinline__ void enter_k_slice(PA& A, int64_t lda, PB& B, int64_t ldb, PC& C, int64_t c_stride,
                                              int64_t& k, int64_t k_split) {
  const int64_t z = blockIdx.z;
  const int64_t k0 = z * k_split;
  A += TA ? k0 * lda : k0;  // a is (k, m) when transposed, else (m, k)
  B += TB ? k0 : k0 * ldb;  // b is (n, k) when transposed, else (k, n)
  C += z * c_stride;
  k = k - k0 < k_split ? k - k0 : k_split;
}

// The block's operands: product batch0 + blockIdx.z of a batched GEMM (a_off set: per-product element offsets), or
// k slice blockIdx.z of a split-K GEMM (k_split > 0), or the one product.
template <bool TA, bool TB, typename PA, typename PB, typename PC>
__device__ __forceinline__ void enter_block_product(PA& A, int64_t lda, PB& B, int64_t ldb, PC& C, int64_t c_stride,
                                                    int64_t& k, const int64_t* a_off, const int64_t* b_off,
                                                    int64_t batch0, int64_t k_split) {
  if (a_off != nullptr) {
    const int64_t t = batch0 + blockIdx.z;
    A += a_off[t];
    B += b_off[t];
    C += t * c_stride;
  } else if (k_split > 0) {
    enter_k_slice<TA, TB>(A, lda, B, ldb, C, c_stride, k, k_split);
  }
}

// The epilogue's arguments (one struct keeps the kernels' parameter lists short).
struct Epilogue {
  float alpha, beta;
  const float* bias;  // null: none
  ops::Act act;       // softmax and linear: nothing here (softmax runs as a row kernel afterwards)
  float act_alpha;
};

// act(alpha acc + beta c_old + bias[col]); c_old is only used when beta != 0 (the caller reads it only then).
__device__ __forceinline__ float epilogue(const Epilogue& e, float acc, float c_old, int64_t col) {
  float v = e.alpha * acc;
  if (e.beta != 0.0f) v = fmaf(e.beta, c_old, v);
  if (e.bias != nullptr) v += e.bias[col];
  if (e.act != ops::Act::linear && e.act != ops::Act::softmax) v = ops::formulas::forward(e.act, v, e.act_alpha);
  return v;
}

}  // namespace fastann::cuda::gemm_detail

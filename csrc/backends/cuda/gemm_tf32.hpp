// The TF32 tensor-core GEMM (gemm_tf32.cu), launched by gemm.cu when allow_tf32() is set and the device has
// compute capability >= 8.0. Included by .cu files only (the epilogue struct comes with device helpers).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "backends/cuda/gemm_common.cuh"

namespace fastann::cuda {

// The tile of c one block computes; the grid is (ceil(n / kTf32TileN), ceil(m / kTf32TileM), products).
constexpr int kTf32TileM = 128, kTf32TileN = 128;

// c = epilogue(op(a) op(b)) with the semantics of the FP32 kernels (softmax excluded: the caller runs it). vec: a
// and b are 16-byte aligned with lda, ldb (and every batch offset) multiples of 4. a_off/b_off: device arrays of
// per-product element offsets (null: one product), product t = batch0 + blockIdx.z writes c + t * c_stride.
// k_split > 0 (only with a_off null; a multiple of 16): split-K, block z computes the product over k-values
// [z k_split, (z + 1) k_split) into c + z * c_stride (gemm_common.cuh, enter_k_slice).
void launch_gemm_tf32(bool trans_a, bool trans_b, bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, const gemm_detail::Epilogue& ep,
                      const int64_t* a_off, const int64_t* b_off, int64_t c_stride, int64_t batch0, int64_t k_split);

}  // namespace fastann::cuda

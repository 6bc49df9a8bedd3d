// Single-precision GEMM for the CPU backend: C = alpha * op(A) * op(B) + beta * C, row-major.
//
// op(A) is (m, k): A itself when !trans_a (A is m x k, lda >= k), else A is stored (k, m), lda >= m.
// op(B) is (k, n): B itself when !trans_b (B is k x n, ldb >= n), else B is stored (n, k), ldb >= k.
// C is (m, n), ldc >= n. beta == 0 means C is write-only (its old contents, NaN included, are ignored).
// k == 0 gives C = beta * C followed by the epilogue.
#pragma once

#include <cstdint>

namespace fastann::cpu {

// Work applied to C after the full K reduction of a block, while that block is still in cache.
struct GemmEpilogue {
  // bias[j] is added to every element of column j (length n), or nullptr.
  const float* bias = nullptr;
  // Optional element-wise post-op on a finished block of C (rows x cols, row stride ldc), after the bias.
  // Called from worker threads on disjoint blocks; must be thread-safe and must not depend on the column index.
  // It must not call back into sgemm/sgemm_batched (the calling thread's packing buffers are still in use).
  void (*block_fn)(float* c, int64_t ldc, int64_t rows, int64_t cols, const void* ctx) = nullptr;
  const void* ctx = nullptr;
};

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue* epilogue = nullptr);

// batch independent products; a[i], b[i], c[i] point at the i-th operands (pointers may repeat for
// broadcast inputs; c[i] must not alias each other). Parallelises across the batch for small products and
// inside each product for large ones.
void sgemm_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* const* a,
                   int64_t lda, const float* const* b, int64_t ldb, float beta, float* const* c, int64_t ldc,
                   int64_t batch);

}  // namespace fastann::cpu

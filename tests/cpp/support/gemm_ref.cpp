// Reference GEMM: triple loop, double accumulation. Slow on purpose; the oracle for every optimised path.
#include "gemm_ref.hpp"

namespace fastann::cpu::ref {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0;
      if (alpha != 0.0f) {  // BLAS convention: alpha == 0 does not touch A or B
        for (int64_t p = 0; p < k; ++p) {
          const float av = trans_a ? a[p * lda + i] : a[i * lda + p];  // op(A) is (m, k)
          const float bv = trans_b ? b[j * ldb + p] : b[p * ldb + j];  // op(B) is (k, n)
          s += static_cast<double>(av) * static_cast<double>(bv);
        }
      }
      double r = static_cast<double>(alpha) * s;
      if (beta != 0.0f) r += static_cast<double>(beta) * static_cast<double>(c[i * ldc + j]);  // beta == 0: C unread
      c[i * ldc + j] = static_cast<float>(r);
    }
  }
}

}  // namespace fastann::cpu::ref

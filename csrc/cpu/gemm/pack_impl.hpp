// Portable packing loops shared by the micro-kernel translation units (see gemm_kernels.hpp for the layouts).
// Everything here has internal linkage: each ISA translation unit gets its own copy compiled with its own flags.
#pragma once

#include <cstdint>
#include <cstring>

namespace fastann::cpu::gemm {
namespace {

inline int64_t pack_min(int64_t x, int64_t y) { return x < y ? x : y; }

// op(A)(i, p) = ta ? a[p * lda + i] : a[i * lda + p]. dst panel r (rows r*mr ..) is [p][i] with stride mr.
inline void pack_a_portable(bool ta, const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t mr,
                            float* dst) {
  for (int64_t r = 0; r < mc; r += mr) {
    const int64_t rows = pack_min(mr, mc - r);
    float* d = dst + r * kc;
    if (ta) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * mr, a + p * lda + r, sizeof(float) * rows);
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        const float* s = a + (r + i) * lda;
        for (int64_t p = 0; p < kc; ++p) d[p * mr + i] = s[p];
      }
    }
  }
}

// op(B)(p, j) = tb ? b[j * ldb + p] : b[p * ldb + j]. dst panel q (columns q*nr ..) is [p][j] with stride nr.
inline void pack_b_portable(bool tb, const float* b, int64_t ldb, int64_t kc, int64_t nc, int64_t nr,
                            float* dst) {
  for (int64_t q = 0; q < nc; q += nr) {
    const int64_t cols = pack_min(nr, nc - q);
    float* d = dst + q * kc;
    if (!tb) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * nr, b + p * ldb + q, sizeof(float) * cols);
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const float* s = b + (q + j) * ldb;
        for (int64_t p = 0; p < kc; ++p) d[p * nr + j] = s[p];
      }
    }
  }
}

}  // namespace
}  // namespace fastann::cpu::gemm

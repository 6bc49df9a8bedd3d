// Reference GEMM (test-only): the obvious triple loop with double accumulation, the oracle for every optimised
// path; same contract as cpu::sgemm (see csrc/backends/cpu/gemm/sgemm.hpp).
#pragma once

#include <cstdint>

namespace fastann::cpu::ref {

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc);

}  // namespace fastann::cpu::ref

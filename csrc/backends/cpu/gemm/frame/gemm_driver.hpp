// Private entry points of the GEMM driver shared with batched.cpp.
#pragma once

#include <cstdint>

#include "backends/cpu/gemm/kernel_set.hpp"
#include "backends/cpu/gemm/sgemm.hpp"

namespace fastann::cpu::gemm {

// One product on the calling thread only (no pool use), same contract as cpu::sgemm.
void sgemm_serial(const KernelSet& ks, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
                  const GemmEpilogue* epilogue);

// Throws std::invalid_argument for negative sizes or leading dimensions shorter than a row.
void check_args(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc);

// How many threads cpu::sgemm uses for an m x n x k product (1 for small products).
int sgemm_threads(const KernelSet& ks, int64_t m, int64_t n, int64_t k);

}  // namespace fastann::cpu::gemm

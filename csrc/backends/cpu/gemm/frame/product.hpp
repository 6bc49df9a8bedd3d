// The GEMM frame's internal interface: one (sub-)product, the small-m plan, and the entry points the frame's files
// share (packed.cpp: the packed and small/mid-size paths; small_m.cpp: the small-m path; scratch.cpp: the per-thread
// packing buffers; gemm_driver.cpp: checks, threading and the public sgemm). Only baseline-ISA files include this.
#pragma once

#include <cstdint>

#include "backends/cpu/gemm/kernel_set.hpp"
#include "backends/cpu/gemm/sgemm.hpp"

namespace fastann::cpu::gemm {

inline int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }
inline int64_t round_up(int64_t x, int64_t y) { return ceil_div(x, y) * y; }

// Element (i, p) of op(A) and (p, j) of op(B).
inline const float* a_at(bool ta, const float* a, int64_t lda, int64_t i, int64_t p) {
  return ta ? a + p * lda + i : a + i * lda + p;
}
inline const float* b_at(bool tb, const float* b, int64_t ldb, int64_t p, int64_t j) {
  return tb ? b + j * ldb + p : b + p * ldb + j;
}

// The calling thread's 64-byte aligned packing buffers (scratch.cpp), grown to at least `floats` and never shrunk,
// so steady-state calls do not allocate. Valid until the thread's next call for the same buffer.
float* scratch_a(int64_t floats);
float* scratch_b(int64_t floats);

// One (sub-)product on already-offset operands: C[0:m, 0:n] = alpha op(A) op(B) + beta C (+ bias, block_fn).
struct Product {
  bool ta, tb;
  int64_t m, n, k;
  float alpha;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float beta;
  float* c;
  int64_t ldc;
  const float* bias;       // offset to column 0 of this product, or nullptr
  const GemmEpilogue* ep;  // for block_fn/ctx, or nullptr
};

// The product on the calling thread: k == 0 / alpha == 0 scaling, the small/mid-size path or the packed path
// (packed.cpp).
void run_product(const KernelSet& ks, const Product& P);

// --- small-m path (small_m.cpp) ---------------------------------------------------------------------------------
struct SmallPlan {
  bool dot;  // dot form (B stored transposed) else axpy form
  int64_t m, n, k;
  const float* a;
  int64_t rsa, csa;  // axpy: op(A)(i, p) = a[i * rsa + p * csa]; dot: rsa is A's row stride
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  float alpha, beta;
  const float* bias;
  int64_t bias_inc;
  const GemmEpilogue* ep;
};

// Whether P takes the small-m path (at most kSmallM rows of C, or a single column); fills *s when it does.
bool plan_small(const Product& P, SmallPlan* s);
// Runs a small plan on up to max_threads threads; the bits do not depend on max_threads.
void run_small_plan(const KernelSet& ks, const SmallPlan& s, int max_threads);

}  // namespace fastann::cpu::gemm

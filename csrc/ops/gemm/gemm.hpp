// The matrix products: gemm (the Dense layers' product, with the bias and an element-wise activation fused into its
// epilogue) and matmul (NumPy semantics, batched). gemm.cpp checks the operands and runs the kernel registered for
// their (device, dtype): cpu.cpp (the CPU backend's blocked GEMM, backends/cpu/gemm), cuda.cu (the CUDA backend's
// GEMMs) or the test-only CUDA emulator. A (device, dtype) with no kernel is an UnavailableError naming all three.
#pragma once

#include <cstdint>
#include <string>

#include "core/registry.hpp"
#include "fastann/tensor.hpp"
#include "ops/types.hpp"

namespace fastann::ops {

// c = alpha * op(a) @ op(b) + beta * c, then c += bias (per column) and c = act(c) when given (fused epilogue).
// a, b, c 2-D; op(x) = x^T when the trans flag is set.
void gemm(bool trans_a, bool trans_b, float alpha, const Tensor& a, const Tensor& b, float beta, Tensor& c,
          const Tensor* bias = nullptr, const ActParams* act = nullptr);
// Test hook: the kernel gemm() runs on the CUDA device `device` for these sizes and into how many k slices it splits
// the product (*splits), as the CUDA backend's gemm_plan; ValueError for a device that is not CUDA.
std::string gemm_plan(Device device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t* splits);

// NumPy matmul semantics: 1-D operands are promoted (and the added axis removed), leading batch dimensions
// broadcast. Throws ValueError on mismatched shapes.
Tensor matmul(const Tensor& a, const Tensor& b);

namespace gemm_kernels {

// Kernels with the ops' arguments, checked, on the kernel's device, m, n > 0. gemm: leading dimensions are the
// operands' row lengths; `act` is an element-wise kind (softmax is applied by gemm() afterwards) or null.
using Gemm = void (*)(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const Tensor& a,
                      const Tensor& b, float beta, Tensor& c, const Tensor* bias, const ActParams* act);
// count products c_t = a_t b_t (no transposes): a_t at element a_off[t] of a, b_t at b_off[t] of b (host arrays),
// c_t at t * m * n of c; k > 0.
using Batched = void (*)(int64_t m, int64_t n, int64_t k, const Tensor& a, const int64_t* a_off, const Tensor& b,
                         const int64_t* b_off, Tensor& c, int64_t count);
// See gemm_plan (CUDA devices only).
using Plan = std::string (*)(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t* splits);

struct Tables {
  KernelTable<Gemm> gemm{"gemm"};
  KernelTable<Batched> batched{"matmul"};
  KernelTable<Plan> plan{"gemm_plan"};
};

// The registrations (ops/kernel_tables.hpp): cpu.cpp; cuda.cu (or the test-only CUDA emulator).
void register_cpu(Tables& t);
void register_cuda(Tables& t);

}  // namespace gemm_kernels

}  // namespace fastann::ops

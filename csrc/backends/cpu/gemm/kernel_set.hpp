// Private interface between the GEMM frame (frame/gemm_driver.cpp, frame/batched.cpp) and the per-ISA micro-kernel
// translation units (kernels/<isa>/). Not installed; not for use outside csrc/backends/cpu.
//
// Conventions used by every kernel (all row-major, float32):
//   A operand of a tile: element (i, p) of the mr x k tile is a[p * csa + i]   (rows of one k-step contiguous)
//   B operand of a tile: element (p, j) of the k x nr tile is b[p * rsb + j]   (columns contiguous)
//   Packed A (pack_a): panels of `mr` rows, panel r at dst + r * kc, layout [p][i], csa = mr.
//   Packed B (pack_b): panels of `nr` columns, panel q at dst + q * nr * kc, layout [p][j], rsb = nr.
// Kernels never read A rows past m_eff nor B/C columns past n_eff, so operands may be used in place.
//
// This header is included by translation units compiled with different -m flags: it must only declare types and
// functions, never define inline code (an inline definition compiled with AVX-512 flags could be picked by the linker
// for the portable code too).
#pragma once

#include <cstdint>

// Full unrolling of the small constant-trip loops in the micro-kernels (register-resident accumulators).
#if defined(__clang__)
#define FASTANN_UNROLL _Pragma("unroll")
#elif defined(__GNUC__)
#define FASTANN_UNROLL _Pragma("GCC unroll 64")
#else
#define FASTANN_UNROLL
#endif

// For the register-blocked FMA block each ISA unit shares between its packed micro-tile and its few-row path: inlined
// into each caller so the caller's constant strides (1 for packed A) fold into the addressing.
#if defined(__GNUC__)
#define FASTANN_ALWAYS_INLINE __attribute__((always_inline)) inline
#else
#define FASTANN_ALWAYS_INLINE inline
#endif

namespace fastann::cpu::gemm {

// C[0:m_eff, 0:n] = alpha * A_tile * B_tile + beta * C (+ bias[0:n]); m_eff is fixed by the table slot.
// beta == 0: C is not read. bias may be nullptr.
using TileFn = void (*)(int64_t k, const float* a, int64_t csa, const float* b, int64_t rsb, float* c, int64_t ldc,
                        int64_t n, float alpha, float beta, const float* bias);

// Packs op(A)[0:mc, 0:kc] (a points at op(A)(0, 0); ta: A is stored transposed) into panels of mr rows.
using PackAFn = void (*)(bool ta, const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float* dst);
// Packs op(B)[0:kc, 0:nc] (b points at op(B)(0, 0); tb: B is stored transposed) into panels of nr columns.
using PackBFn = void (*)(bool tb, const float* b, int64_t ldb, int64_t kc, int64_t nc, int64_t nr, float* dst);

// Small-m products, unpacked (both operands read in place, B streamed once). Every element of C is one FMA chain
// over p = 0 .. k-1 (axpy form) or a fixed lane-partial-sum reduction (dot form) followed by the epilogue
// r = alpha * acc (+ beta * C) + bias[j * bias_inc], so an element's value does not depend on m, n, the column
// range a call covers, or the thread computing it. bias may be nullptr; bias_inc 0 broadcasts bias[0].
// Axpy form: C[0:m, 0:n] = alpha * op(A) B + beta * C (+ bias), op(A)(i, p) = a[i * rsa + p * csa] (m <= small_m_max),
// B(p, j) = b[p * ldb + j].
using SmallMFn = void (*)(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b,
                          int64_t ldb, float* c, int64_t ldc, float alpha, float beta, const float* bias,
                          int64_t bias_inc);
// Dot form: C[0:m, 0:n] = alpha * A B^T + beta * C (+ bias), A(i, p) = a[i * lda + p] (m <= kSmallM),
// B stored (n, k): row j at b + j * ldb.
using SmallDotFn = void (*)(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb,
                            float* c, int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc);

// The most rows of C for which the driver takes the small-m path (B streamed, unpacked). A kernel set's small_m
// takes up to KernelSet::small_m_max >= kSmallM rows per call (the driver's in-place-A path for narrow products).
constexpr int kSmallM = 8;

struct KernelSet {
  const char* name;
  int mr, nr;                // wide tile: up to mr rows x nr columns
  int mr_narrow, nr_narrow;  // narrow tile, used when a tile has at most nr_narrow columns
  int mc, kc, nc;            // cache blocking of the packed path (mc multiple of mr, nc multiple of nr)
  const TileFn* wide;        // wide[m_eff - 1], m_eff in [1, mr]
  const TileFn* narrow;      // narrow[m_eff - 1], m_eff in [1, mr_narrow]
  PackAFn pack_a;
  PackBFn pack_b;
  SmallMFn small_m;
  SmallDotFn small_dot;
  int small_m_max;     // the most rows a small_m call takes (>= kSmallM)
  int in_place_max_n;  // products at most this wide with A stored (m, k) run on small_m, A read in place
};

// Each kernel folder defines `const KernelSet* kernels_<isa>()`, nullptr when its translation unit was compiled without
// the ISA's flags (non-x86, or a compiler without them); kernels/registry.cpp registers it.

// The kernel set of active_isa() (dispatch.cpp).
const KernelSet& active_kernels();

}  // namespace fastann::cpu::gemm

// Tiled SGEMM (FP32) for NN/NT/TN/TT with the fused epilogue c = act(alpha op(a) op(b) + beta c + bias), and its
// batched form (a grid z-dimension over the batch, operands at per-batch offsets). Three kernels, chosen per call by
// choose() below: the 64x64-tile kernel (small and skinny shapes), the 128x128-tile kernel (large shapes, described
// at sgemm_large_kernel) and, when allow_tf32() is set on a GPU of compute capability >= 8.0, the TF32 tensor-core
// kernel (gemm_tf32.cu). The last two share the epilogue code (gemm_common.cuh: the 64x64 kernel's formula).
//
// 64x64 kernel: each block computes a 64x64 tile of c with 256 threads; each thread keeps a 4x4 register block (rows
// ty + 16 i, columns tx + 16 j, so the stores of a warp are contiguous). The k dimension is walked in steps of 16:
// each thread loads 4 consecutive elements of a and of b (one float4 when the operand is 16-byte aligned with a
// leading dimension divisible by 4 and the 4 elements are in range, else 4 bounds-checked scalar loads) into shared
// memory, stored k-major so the inner product loop reads both tiles as broadcasts / consecutive words.
// beta == 0 never reads c (it may hold garbage). Softmax is applied by a row kernel afterwards.
//
// Split-K (non-batched calls whose output has too few tiles to fill the GPU, described at plan_gemm): the 64x64 or
// the TF32 kernel runs with grid z = k slice, each block computing its tile's product over one contiguous slice of k
// (the kernel's k_split argument) into its own m x n partial of a workspace, with no epilogue; a reduce kernel then
// adds the partials in slice order (deterministic) and applies the epilogue.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "backends/cuda/backend.hpp"
#include "backends/cuda/gemm_common.cuh"
#include "backends/cuda/gemm_tf32.hpp"
#include "backends/cuda/internal.hpp"
#include "ops/activation/formulas.hpp"

namespace fastann::cuda {

namespace {

constexpr int BM = 64, BN = 64, BK = 16, TM = 4, TN = 4, THREADS = 256;
constexpr int kMaxGridZ = 65535;

// min(4, max(0, rem)): how many of 4 consecutive elements exist.
__device__ __forceinline__ int clamp4(int64_t rem) { return rem >= 4 ? 4 : (rem <= 0 ? 0 : static_cast<int>(rem)); }

// Loads 4 consecutive elements p[0..3]; the first valid_count exist, the others read as 0.
template <bool VEC>
__device__ __forceinline__ void load4(const float* p, bool all_valid, int valid_count, float v[4]) {
  if (VEC && all_valid) {
    const float4 t = *reinterpret_cast<const float4*>(p);
    v[0] = t.x;
    v[1] = t.y;
    v[2] = t.z;
    v[3] = t.w;
  } else {
#pragma unroll
    for (int q = 0; q < 4; ++q) v[q] = q < valid_count ? p[q] : 0.0f;
  }
}

template <bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__(THREADS)
    sgemm_kernel(int64_t m, int64_t n, int64_t k, float alpha, const float* __restrict__ A, int64_t lda,
                 const float* __restrict__ B, int64_t ldb, float beta, float* __restrict__ C, int64_t ldc,
                 const float* __restrict__ bias, ops::Act act, float act_alpha, const int64_t* __restrict__ a_off,
                 const int64_t* __restrict__ b_off, int64_t c_stride, int64_t batch0, int64_t k_split) {
  gemm_detail::enter_block_product<TA, TB>(A, lda, B, ldb, C, c_stride, k, a_off, b_off, batch0, k_split);
  __shared__ float As[BK][BM + 4];
  __shared__ float Bs[BK][BN + 4];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * BM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * BN;

  float acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; ++i)
#pragma unroll
    for (int j = 0; j < TN; ++j) acc[i][j] = 0.0f;

  for (int64_t k0 = 0; k0 < k; k0 += BK) {
    float v[4];
    // a tile: op(a) rows row0..+64, k k0..+16.
    if (!TA) {  // a is (m, k): a[i * lda + kk], contiguous along k
      const int r = tid / 4, kq = (tid % 4) * 4;
      const int64_t gi = row0 + r, gk = k0 + kq;
      const int cnt = gi < m ? clamp4(k - gk) : 0;
      load4<VEC>(A + gi * lda + gk, cnt == 4, cnt, v);
#pragma unroll
      for (int q = 0; q < 4; ++q) As[kq + q][r] = v[q];
    } else {  // a is (k, m): a[kk * lda + i], contiguous along m
      const int kk = tid / 16, iq = (tid % 16) * 4;
      const int64_t gk = k0 + kk, gi = row0 + iq;
      const int cnt = gk < k ? clamp4(m - gi) : 0;
      load4<VEC>(A + gk * lda + gi, cnt == 4, cnt, v);
#pragma unroll
      for (int q = 0; q < 4; ++q) As[kk][iq + q] = v[q];
    }
    // b tile: op(b) k k0..+16, columns col0..+64.
    if (!TB) {  // b is (k, n): b[kk * ldb + j], contiguous along n
      const int kk = tid / 16, jq = (tid % 16) * 4;
      const int64_t gk = k0 + kk, gj = col0 + jq;
      const int cnt = gk < k ? clamp4(n - gj) : 0;
      load4<VEC>(B + gk * ldb + gj, cnt == 4, cnt, v);
#pragma unroll
      for (int q = 0; q < 4; ++q) Bs[kk][jq + q] = v[q];
    } else {  // b is (n, k): b[j * ldb + kk], contiguous along k
      const int j = tid / 4, kq = (tid % 4) * 4;
      const int64_t gj = col0 + j, gk = k0 + kq;
      const int cnt = gj < n ? clamp4(k - gk) : 0;
      load4<VEC>(B + gj * ldb + gk, cnt == 4, cnt, v);
#pragma unroll
      for (int q = 0; q < 4; ++q) Bs[kq + q][j] = v[q];
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; ++kk) {
      float a[TM], b[TN];
#pragma unroll
      for (int i = 0; i < TM; ++i) a[i] = As[kk][ty + 16 * i];
#pragma unroll
      for (int j = 0; j < TN; ++j) b[j] = Bs[kk][tx + 16 * j];
#pragma unroll
      for (int i = 0; i < TM; ++i)
#pragma unroll
        for (int j = 0; j < TN; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    __syncthreads();
  }

  const bool do_act = act != ops::Act::linear && act != ops::Act::softmax;
#pragma unroll
  for (int i = 0; i < TM; ++i) {
    const int64_t r = row0 + ty + 16 * i;
    if (r >= m) continue;
#pragma unroll
    for (int j = 0; j < TN; ++j) {
      const int64_t c = col0 + tx + 16 * j;
      if (c >= n) continue;
      float val = alpha * acc[i][j];
      if (beta != 0.0f) val += beta * C[r * ldc + c];
      if (bias != nullptr) val += bias[c];
      if (do_act) val = ops::formulas::forward(act, val, act_alpha);
      C[r * ldc + c] = val;
    }
  }
}

// --- 128x128 tiles (large shapes) ----------------------------------------------------------------------------------
// 256 threads as a 16x16 grid (tx = tid % 16, ty = tid / 16); each thread owns an 8x8 block of c split into 2x2
// sub-blocks of 4x4: rows ty*4 + {0..3} and 64 + ty*4 + {0..3}, columns tx*4 + {0..3} and 64 + tx*4 + {0..3}. The
// split keeps the shared-memory reads float4 (4 consecutive rows / columns) and makes the 16 threads of a half warp
// store 64 consecutive floats of a row (float4 each) in the epilogue. k is walked in steps of LK = 8: one float4 of
// a and one of b per thread and step. Shared memory holds two k-steps (double buffering): the global loads of the
// next step are issued into registers before the FMAs of the current one and written to the other buffer after
// them, so their latency hides behind 512 FMAs per thread, and one __syncthreads per step suffices (see the loop).
constexpr int LM = 128, LN = 128, LK = 8, LPAD = 4;

template <bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__(THREADS, 2)
    sgemm_large_kernel(int64_t m, int64_t n, int64_t k, const float* __restrict__ A, int64_t lda,
                       const float* __restrict__ B, int64_t ldb, float* __restrict__ C, int64_t ldc,
                       gemm_detail::Epilogue ep, const int64_t* __restrict__ a_off, const int64_t* __restrict__ b_off,
                       int64_t c_stride, int64_t batch0) {
  using gemm_detail::clamp4;
  using gemm_detail::load4;
  gemm_detail::enter_block_product<TA, TB>(A, lda, B, ldb, C, c_stride, k, a_off, b_off, batch0, 0);  // no split
  // k-major tiles: As[buf][kk][i] = op(a)(row0 + i, k0 + kk), Bs[buf][kk][j] = op(b)(k0 + kk, col0 + j). The row
  // padding (132 floats = 528 bytes, a multiple of 16) keeps float4 reads aligned and spreads the transposing scalar
  // stores (rows kk and kk + 4 of one warp) over all 32 banks.
  __shared__ __align__(16) float As[2][LK][LM + LPAD];
  __shared__ __align__(16) float Bs[2][LK][LN + LPAD];
  const int tid = threadIdx.x;
  const int tx = tid % 16, ty = tid / 16;
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * LM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * LN;

  // What this thread loads per k-step (fixed for the whole loop):
  //  a not transposed (m, k), contiguous along k: row ar = tid / 2, k quad ak = (tid % 2) * 4 -> As[ak + q][ar];
  //  a transposed (k, m), contiguous along m: k row ak = tid / 32, row quad ar = (tid % 32) * 4 -> As[ak][ar + q];
  //  b likewise: not transposed (k, n): bk = tid / 32, bj = (tid % 32) * 4 -> Bs[bk][bj + q];
  //              transposed (n, k): bj = tid / 2, bk = (tid % 2) * 4 -> Bs[bk + q][bj].
  const int ar = TA ? (tid % 32) * 4 : tid / 2;
  const int ak = TA ? tid / 32 : (tid % 2) * 4;
  const int bj = TB ? tid / 2 : (tid % 32) * 4;
  const int bk = TB ? (tid % 2) * 4 : tid / 32;

  auto load_a = [&](int64_t k0) -> float4 {
    const int64_t gi = row0 + ar, gk = k0 + ak;
    if (!TA) {
      const int cnt = gi < m ? clamp4(k - gk) : 0;
      return load4<VEC>(cnt > 0 ? A + gi * lda + gk : A, cnt);
    }
    const int cnt = gk < k ? clamp4(m - gi) : 0;
    return load4<VEC>(cnt > 0 ? A + gk * lda + gi : A, cnt);
  };
  auto load_b = [&](int64_t k0) -> float4 {
    const int64_t gj = col0 + bj, gk = k0 + bk;
    if (!TB) {
      const int cnt = gk < k ? clamp4(n - gj) : 0;
      return load4<VEC>(cnt > 0 ? B + gk * ldb + gj : B, cnt);
    }
    const int cnt = gj < n ? clamp4(k - gk) : 0;
    return load4<VEC>(cnt > 0 ? B + gj * ldb + gk : B, cnt);
  };
  auto store_tiles = [&](int buf, const float4& va, const float4& vb) {
    if (!TA) {
      As[buf][ak + 0][ar] = va.x;
      As[buf][ak + 1][ar] = va.y;
      As[buf][ak + 2][ar] = va.z;
      As[buf][ak + 3][ar] = va.w;
    } else {
      *reinterpret_cast<float4*>(&As[buf][ak][ar]) = va;
    }
    if (!TB) {
      *reinterpret_cast<float4*>(&Bs[buf][bk][bj]) = vb;
    } else {
      Bs[buf][bk + 0][bj] = vb.x;
      Bs[buf][bk + 1][bj] = vb.y;
      Bs[buf][bk + 2][bj] = vb.z;
      Bs[buf][bk + 3][bj] = vb.w;
    }
  };

  float acc[8][8];
#pragma unroll
  for (int i = 0; i < 8; ++i)
#pragma unroll
    for (int j = 0; j < 8; ++j) acc[i][j] = 0.0f;

  const int64_t steps = (k + LK - 1) / LK;  // 0 when k == 0: acc stays 0, the epilogue still runs
  if (steps > 0) {
    store_tiles(0, load_a(0), load_b(0));
    __syncthreads();
  }
  for (int64_t s = 0; s < steps; ++s) {
    const int cur = static_cast<int>(s & 1);
    const bool more = s + 1 < steps;
    float4 na = make_float4(0.f, 0.f, 0.f, 0.f), nb = na;
    if (more) {  // issued now, consumed after the FMAs below
      na = load_a((s + 1) * LK);
      nb = load_b((s + 1) * LK);
    }
#pragma unroll
    for (int kk = 0; kk < LK; ++kk) {
      const float4 a0 = *reinterpret_cast<const float4*>(&As[cur][kk][ty * 4]);
      const float4 a1 = *reinterpret_cast<const float4*>(&As[cur][kk][64 + ty * 4]);
      const float4 b0 = *reinterpret_cast<const float4*>(&Bs[cur][kk][tx * 4]);
      const float4 b1 = *reinterpret_cast<const float4*>(&Bs[cur][kk][64 + tx * 4]);
      const float a[8] = {a0.x, a0.y, a0.z, a0.w, a1.x, a1.y, a1.z, a1.w};
      const float b[8] = {b0.x, b0.y, b0.z, b0.w, b1.x, b1.y, b1.z, b1.w};
#pragma unroll
      for (int i = 0; i < 8; ++i)
#pragma unroll
        for (int j = 0; j < 8; ++j) acc[i][j] = fmaf(a[i], b[j], acc[i][j]);
    }
    // Writing the other buffer is safe without a barrier before it: that buffer was last read in step s - 1, and
    // every thread passed the barrier at the end of step s - 1 after finishing those reads. The barrier below makes
    // these writes visible before step s + 1 reads them (and orders this step's reads before step s + 2's writes).
    if (more) store_tiles(cur ^ 1, na, nb);
    __syncthreads();
  }

  // Epilogue: float4 loads/stores of c when c is 16-byte aligned with ldc % 4 == 0 (checked here, after the batch
  // offset) and the 4 columns exist; else per element.
  const bool vec_c = (reinterpret_cast<uintptr_t>(C) % 16 == 0) && ldc % 4 == 0;
#pragma unroll
  for (int i = 0; i < 8; ++i) {
    const int64_t r = row0 + (i < 4 ? ty * 4 + i : 64 + ty * 4 + (i - 4));
    if (r >= m) continue;
#pragma unroll
    for (int h = 0; h < 2; ++h) {
      const int64_t c0 = col0 + h * 64 + tx * 4;
      if (c0 >= n) continue;
      float* cp = C + r * ldc + c0;
      if (vec_c && c0 + 4 <= n) {
        float4 old = make_float4(0.f, 0.f, 0.f, 0.f);
        if (ep.beta != 0.0f) old = *reinterpret_cast<const float4*>(cp);
        float4 v;
        v.x = gemm_detail::epilogue(ep, acc[i][h * 4 + 0], old.x, c0 + 0);
        v.y = gemm_detail::epilogue(ep, acc[i][h * 4 + 1], old.y, c0 + 1);
        v.z = gemm_detail::epilogue(ep, acc[i][h * 4 + 2], old.z, c0 + 2);
        v.w = gemm_detail::epilogue(ep, acc[i][h * 4 + 3], old.w, c0 + 3);
        *reinterpret_cast<float4*>(cp) = v;
      } else {
#pragma unroll
        for (int q = 0; q < 4; ++q) {
          if (c0 + q >= n) break;
          const float old = ep.beta != 0.0f ? cp[q] : 0.0f;
          cp[q] = gemm_detail::epilogue(ep, acc[i][h * 4 + q], old, c0 + q);
        }
      }
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <bool TA, bool TB>
void launch_t(bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias, ops::Act act,
              float act_alpha, const int64_t* a_off, const int64_t* b_off, int64_t c_stride, int64_t batch0,
              int64_t k_split) {
  if (vec) {
    sgemm_kernel<TA, TB, true><<<grid, THREADS, 0, stream()>>>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                                                               act_alpha, a_off, b_off, c_stride, batch0, k_split);
  } else {
    sgemm_kernel<TA, TB, false><<<grid, THREADS, 0, stream()>>>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act,
                                                                act_alpha, a_off, b_off, c_stride, batch0, k_split);
  }
  FASTANN_CUDA_CHECK_LAUNCH("sgemm");
}

void launch(bool ta, bool tb, bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
            int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias,
            ops::Act act, float act_alpha, const int64_t* a_off, const int64_t* b_off, int64_t c_stride, int64_t batch0,
            int64_t k_split) {
  if (!ta && !tb) {
    launch_t<false, false>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off, b_off,
                           c_stride, batch0, k_split);
  } else if (!ta && tb) {
    launch_t<false, true>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off, b_off,
                          c_stride, batch0, k_split);
  } else if (ta && !tb) {
    launch_t<true, false>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off, b_off,
                          c_stride, batch0, k_split);
  } else {
    launch_t<true, true>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off, b_off,
                         c_stride, batch0, k_split);
  }
}

template <bool TA, bool TB>
void launch_large_t(bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
                    int64_t ldb, float* c, int64_t ldc, const gemm_detail::Epilogue& ep, const int64_t* a_off,
                    const int64_t* b_off, int64_t c_stride, int64_t batch0) {
  if (vec) {
    sgemm_large_kernel<TA, TB, true>
        <<<grid, THREADS, 0, stream()>>>(m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0);
  } else {
    sgemm_large_kernel<TA, TB, false>
        <<<grid, THREADS, 0, stream()>>>(m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0);
  }
  FASTANN_CUDA_CHECK_LAUNCH("sgemm_large");
}

void launch_large(bool ta, bool tb, bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
                  const float* b, int64_t ldb, float* c, int64_t ldc, const gemm_detail::Epilogue& ep,
                  const int64_t* a_off = nullptr, const int64_t* b_off = nullptr, int64_t c_stride = 0,
                  int64_t batch0 = 0) {
  if (!ta && !tb) {
    launch_large_t<false, false>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0);
  } else if (!ta && tb) {
    launch_large_t<false, true>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0);
  } else if (ta && !tb) {
    launch_large_t<true, false>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0);
  } else {
    launch_large_t<true, true>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0);
  }
}

// Grid of tiles of bm x bn over (m, n), z products.
dim3 grid_for(int64_t m, int64_t n, int64_t z, int bm = BM, int bn = BN) {
  const int64_t gy = (m + bm - 1) / bm, gx = (n + bn - 1) / bn;
  if (gy > 65535 || gx > 0x7fffffffLL) {
    throw ValueError("gemm: the CUDA kernel supports at most " + std::to_string(65535LL * bm) + " rows, got " +
                     std::to_string(m));
  }
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(z));
}

// Per-device facts the kernel choice needs, queried once per device (attribute queries cost microseconds, a GEMM
// of a small layer about as much).
struct DeviceProps {
  int cc_major = 0;
  int sms = 1;
};

DeviceProps device_props(int device) {
  static std::mutex mu;
  static std::map<int, DeviceProps> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(device);
  if (it != cache.end()) return it->second;
  DeviceProps p;
  FASTANN_CUDA_CHECK(cudaDeviceGetAttribute(&p.cc_major, cudaDevAttrComputeCapabilityMajor, device));
  FASTANN_CUDA_CHECK(cudaDeviceGetAttribute(&p.sms, cudaDevAttrMultiProcessorCount, device));
  cache.emplace(device, p);
  return p;
}

enum class Kernel { small, large, tf32 };

// TF32 tensor cores when allowed and the device has them (compute capability >= 8.0). Else the 128x128 FP32 kernel
// when m and n are at least a tile and its grid still has two blocks per SM (each block needs a full SM's worth of
// registers for half the SM; fewer, larger tiles would leave SMs idle), else the 64x64 kernel (small and skinny
// shapes: 4x the blocks, less padding waste).
Kernel choose(int device, int64_t m, int64_t n, int64_t z) {
  const DeviceProps p = device_props(device);
  if (allow_tf32() && p.cc_major >= 8) return Kernel::tf32;
  const int64_t tiles = ((m + LM - 1) / LM) * ((n + LN - 1) / LN) * z;
  if (m >= LM && n >= LN && tiles >= 2LL * p.sms) return Kernel::large;
  return Kernel::small;
}

const char* kernel_name(Kernel kern) {
  switch (kern) {
    case Kernel::tf32:
      return "tf32";
    case Kernel::large:
      return "large";
    case Kernel::small:
      break;
  }
  return "small";
}

// z products (batched) or, with k_split > 0 (a_off null, z = the number of slices), z k slices of one product into
// the partials c + slice * c_stride (split-K; the caller passes the partials' epilogue). The 128x128 kernel is never
// split (plan_gemm), so it takes no k_split.
void run_gemm(Kernel kern, bool ta, bool tb, bool vec, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
              const float* b, int64_t ldb, float* c, int64_t ldc, const gemm_detail::Epilogue& ep, int64_t z,
              const int64_t* a_off, const int64_t* b_off, int64_t c_stride, int64_t batch0, int64_t k_split = 0) {
  switch (kern) {
    case Kernel::tf32:
      launch_gemm_tf32(ta, tb, vec, grid_for(m, n, z, kTf32TileM, kTf32TileN), m, n, k, a, lda, b, ldb, c, ldc, ep,
                       a_off, b_off, c_stride, batch0, k_split);
      break;
    case Kernel::large:
      launch_large(ta, tb, vec, grid_for(m, n, z, LM, LN), m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride,
                   batch0);
      break;
    case Kernel::small:
      launch(ta, tb, vec, grid_for(m, n, z), m, n, k, ep.alpha, a, lda, b, ldb, ep.beta, c, ldc, ep.bias, ep.act,
             ep.act_alpha, a_off, b_off, c_stride, batch0, k_split);
      break;
  }
}

// --- split-K ---------------------------------------------------------------------------------------------------
// The tile kernels parallelise over the output only: dW = x^T dz of a width-64 layer at batch 65536 is one 64x64
// tile with k = 65536, i.e. one block on one SM while the others idle. Split-K gives such a product
// more blocks by also cutting k into S contiguous slices. The thresholds:
//  * split only when the output has fewer tiles (of the chosen kernel) than the GPU has SMs: then whole SMs would
//    idle for the entire GEMM. With more tiles every SM has work, and the split's costs (a second launch, S m n
//    floats written and read back) would buy little;
//  * S targets 2 blocks per SM (tiles * S ~ 2 * SMs): a second resident block hides the first one's barrier and
//    memory stalls; more slices only add partials to write and to sum;
//  * every slice has at least kMinSliceSteps k-steps of 16: a 64x64 tile reads (64 + 64) * 4 bytes of operands per
//    k-value, 64 KB over 128 k-values, against 32 KB for writing its partial and reading it back in the reduce,
//    so the workspace stays a minority of the traffic (and of the time) even for the shortest slices;
//  * S <= kMaxSplits = 256, which bounds the reduce's per-element sum (256 loads) and the workspace, S m n floats:
//    since m n <= tiles * 128 * 128 and S ~ 2 SMs / tiles, that is at most about 2 * SMs * 64 KB (17 MB on an
//    H100, usually far less: 4 MB for the 64x64 example).
// Slices are multiples of 16 (enter_k_slice's alignment argument) and the last one is shorter. The split depends
// only on (m, n, k, the kernel, the SM count), and the reduce adds the partials in a fixed order, so results are
// bitwise repeatable on a given GPU model (a GPU with another SM count may split differently: last-bit changes).
constexpr int64_t kSliceAlign = 16;  // BK and the TF32 kernel's TK
constexpr int64_t kMinSliceSteps = 8;
constexpr int64_t kMaxSplits = 256;
static_assert(BK == kSliceAlign, "k slices must be whole k-steps of the 64x64 kernel");

struct Plan {
  Kernel kern = Kernel::small;
  int64_t splits = 1;  // 1: no split
  int64_t slice = 0;   // k-values per slice (the last one: what remains), a multiple of kSliceAlign
};

Plan plan_gemm(int device, int64_t m, int64_t n, int64_t k) {
  Plan p;
  p.kern = choose(device, m, n, 1);
  if (p.kern == Kernel::large || k <= 0) return p;  // the 128x128 kernel is only chosen with >= 2 * SMs tiles
  const int64_t tile_m = p.kern == Kernel::tf32 ? kTf32TileM : BM, tile_n = p.kern == Kernel::tf32 ? kTf32TileN : BN;
  const int64_t tiles = ((m + tile_m - 1) / tile_m) * ((n + tile_n - 1) / tile_n);
  const int64_t sms = device_props(device).sms;
  if (tiles >= sms) return p;
  int64_t s =
      std::min<int64_t>({(2 * sms + tiles - 1) / tiles, kMaxSplits, k / (kMinSliceSteps * kSliceAlign), kMaxGridZ});
  if (s < 2) return p;
  // Equal slices rounded up to whole k-steps; recounting the slices drops any that rounding left empty.
  const int64_t slice = ((k + s - 1) / s + kSliceAlign - 1) / kSliceAlign * kSliceAlign;
  s = (k + slice - 1) / slice;
  if (s < 2) return p;
  p.splits = s;
  p.slice = slice;
  return p;
}

// c = epilogue(sum of the `splits` partials of ws, in slice order 0, 1, ...), one thread per element of c. The
// partials are m x n, contiguous, one after the other. Eight running sums (slices j, j + 8, ...; combined pairwise
// at the end) keep eight independent loads in flight per thread, since the adds of one sum wait for each other;
// the order depends on `splits` only, so the result is the same every run (no atomics).
__global__ void __launch_bounds__(THREADS)
    splitk_reduce_kernel(int64_t m, int64_t n, int64_t splits, const float* __restrict__ ws, float* __restrict__ C,
                         int64_t ldc, gemm_detail::Epilogue ep) {
  const int64_t mn = m * n;
  FASTANN_GRID_STRIDE(i, mn) {
    float part[8] = {0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f, 0.f};
    int64_t s = 0;
    for (; s + 8 <= splits; s += 8) {
#pragma unroll
      for (int j = 0; j < 8; ++j) part[j] += ws[(s + j) * mn + i];
    }
#pragma unroll
    for (int j = 0; j < 8; ++j) {  // the last splits % 8 slices (unrolled: part stays in registers)
      if (s + j < splits) part[j] += ws[(s + j) * mn + i];
    }
    const float sum = ((part[0] + part[1]) + (part[2] + part[3])) + ((part[4] + part[5]) + (part[6] + part[7]));
    const int64_t r = i / n, c = i - r * n;
    float* cp = C + r * ldc + c;
    const float old = ep.beta != 0.0f ? *cp : 0.0f;
    *cp = gemm_detail::epilogue(ep, sum, old, c);
  }
}

}  // namespace

void gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias,
          const ops::ActParams* act) {
  if (m <= 0 || n <= 0) return;
  DeviceGuard g(device);
  const bool vec = aligned16(a) && aligned16(b) && lda % 4 == 0 && ldb % 4 == 0;
  const ops::Act kind = act ? act->kind : ops::Act::linear;
  const gemm_detail::Epilogue ep{alpha, beta, bias, kind, act ? act->alpha : 0.0f};
  const Plan plan = plan_gemm(device, m, n, k);
  if (plan.splits > 1) {
    // The partials are the plain products (alpha 1, beta 0: c is not read, no bias, no activation); the reduce
    // applies the whole epilogue once to their sum, alpha included, as the unsplit kernels do to theirs. The
    // workspace is freed (returned to the stream's cache) after the launches: later work on the stream that gets
    // the block runs after them (caching_pool.hpp).
    const int64_t mn = m * n;
    const std::shared_ptr<void> ws = allocate(static_cast<size_t>(plan.splits * mn) * sizeof(float), device);
    float* part = static_cast<float*>(ws.get());
    const gemm_detail::Epilogue raw{1.0f, 0.0f, nullptr, ops::Act::linear, 0.0f};
    run_gemm(plan.kern, trans_a, trans_b, vec, m, n, k, a, lda, b, ldb, part, n, raw, plan.splits, nullptr, nullptr, mn,
             0, plan.slice);
    splitk_reduce_kernel<<<blocks_for(mn, THREADS), THREADS, 0, stream()>>>(m, n, plan.splits, part, c, ldc, ep);
    FASTANN_CUDA_CHECK_LAUNCH("splitk_reduce");
  } else {
    run_gemm(plan.kern, trans_a, trans_b, vec, m, n, k, a, lda, b, ldb, c, ldc, ep, 1, nullptr, nullptr, 0, 0);
  }
}

void gemm_batched(int device, int64_t m, int64_t n, int64_t k, const float* a, const int64_t* a_off, const float* b,
                  const int64_t* b_off, float* c, int64_t count) {
  if (m <= 0 || n <= 0 || count <= 0) return;
  DeviceGuard g(device);
  bool vec = aligned16(a) && aligned16(b) && k % 4 == 0 && n % 4 == 0;
  for (int64_t t = 0; t < count && vec; ++t) vec = a_off[t] % 4 == 0 && b_off[t] % 4 == 0;
  const std::shared_ptr<void> da = upload_int64(device, a_off, count);
  const std::shared_ptr<void> db = upload_int64(device, b_off, count);
  const gemm_detail::Epilogue ep{1.0f, 0.0f, nullptr, ops::Act::linear, 0.0f};
  const Kernel kern = choose(device, m, n, count);
  for (int64_t t0 = 0; t0 < count; t0 += kMaxGridZ) {
    const int64_t z = std::min<int64_t>(kMaxGridZ, count - t0);
    run_gemm(kern, false, false, vec, m, n, k, a, k, b, n, c, n, ep, z, static_cast<const int64_t*>(da.get()),
             static_cast<const int64_t*>(db.get()), m * n, t0);
  }
}

std::string gemm_plan(int device, bool /*trans_a*/, bool /*trans_b*/, int64_t m, int64_t n, int64_t k,
                      int64_t* splits) {
  require_device(device);  // UnavailableError naming the problem (no driver, no such device) rather than a CUDA error
  DeviceGuard g(device);
  const Plan p = plan_gemm(device, m, n, k);
  if (splits != nullptr) *splits = p.splits;
  return kernel_name(p.kern);
}

}  // namespace fastann::cuda

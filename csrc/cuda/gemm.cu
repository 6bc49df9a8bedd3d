// Tiled SGEMM (FP32) for NN/NT/TN/TT with the fused epilogue c = act(alpha op(a) op(b) + beta c + bias), and its
// batched form (a grid z-dimension over the batch, operands at per-batch offsets).
//
// Each block computes a 64x64 tile of c with 256 threads; each thread keeps a 4x4 register block (rows ty + 16 i,
// columns tx + 16 j, so the stores of a warp are contiguous). The k dimension is walked in steps of 16: each thread
// loads 4 consecutive elements of a and of b (one float4 when the operand is 16-byte aligned with a leading dimension
// divisible by 4 and the 4 elements are in range, else 4 bounds-checked scalar loads) into shared memory, stored
// k-major so the inner product loop reads both tiles as broadcasts / consecutive words.
// beta == 0 never reads c (it may hold garbage). Softmax is applied by a row kernel afterwards.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "cuda/act.cuh"
#include "cuda/backend.hpp"
#include "cuda/internal.hpp"

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
             const int64_t* __restrict__ b_off, int64_t c_stride, int64_t batch0) {
  if (a_off != nullptr) {
    const int64_t t = batch0 + blockIdx.z;
    A += a_off[t];
    B += b_off[t];
    C += t * c_stride;
  }
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
      if (do_act) val = act_fwd(act, val, act_alpha);
      C[r * ldc + c] = val;
    }
  }
}

bool aligned16(const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; }

template <bool TA, bool TB>
void launch_t(bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias, ops::Act act,
              float act_alpha, const int64_t* a_off, const int64_t* b_off, int64_t c_stride, int64_t batch0) {
  if (vec) {
    sgemm_kernel<TA, TB, true><<<grid, THREADS, 0, stream()>>>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                                                               act, act_alpha, a_off, b_off, c_stride, batch0);
  } else {
    sgemm_kernel<TA, TB, false><<<grid, THREADS, 0, stream()>>>(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias,
                                                                act, act_alpha, a_off, b_off, c_stride, batch0);
  }
  FASTANN_CUDA_CHECK_LAUNCH("sgemm");
}

void launch(bool ta, bool tb, bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
            int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias,
            ops::Act act, float act_alpha, const int64_t* a_off = nullptr, const int64_t* b_off = nullptr,
            int64_t c_stride = 0, int64_t batch0 = 0) {
  if (!ta && !tb) {
    launch_t<false, false>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off,
                           b_off, c_stride, batch0);
  } else if (!ta && tb) {
    launch_t<false, true>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off,
                          b_off, c_stride, batch0);
  } else if (ta && !tb) {
    launch_t<true, false>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off,
                          b_off, c_stride, batch0);
  } else {
    launch_t<true, true>(vec, grid, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, act, act_alpha, a_off,
                         b_off, c_stride, batch0);
  }
}

dim3 grid_for(int64_t m, int64_t n, int64_t z) {
  const int64_t gy = (m + BM - 1) / BM, gx = (n + BN - 1) / BN;
  if (gy > 65535 || gx > 0x7fffffffLL) {
    throw ValueError("gemm: the CUDA kernel supports at most " + std::to_string(65535LL * BM) + " rows, got " +
                     std::to_string(m));
  }
  return dim3(static_cast<unsigned>(gx), static_cast<unsigned>(gy), static_cast<unsigned>(z));
}

}  // namespace

void gemm(int device, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
          int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const float* bias,
          const ops::ActParams* act) {
  if (m <= 0 || n <= 0) return;
  DeviceGuard g(device);
  const bool vec = aligned16(a) && aligned16(b) && lda % 4 == 0 && ldb % 4 == 0;
  const ops::Act kind = act ? act->kind : ops::Act::linear;
  launch(trans_a, trans_b, vec, grid_for(m, n, 1), m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, kind,
         act ? act->alpha : 0.0f);
  if (kind == ops::Act::softmax) launch_softmax_rows(c, c, m, n);
}

void gemm_batched(int device, int64_t m, int64_t n, int64_t k, const float* a, const int64_t* a_off, const float* b,
                  const int64_t* b_off, float* c, int64_t count) {
  if (m <= 0 || n <= 0 || count <= 0) return;
  DeviceGuard g(device);
  bool vec = aligned16(a) && aligned16(b) && k % 4 == 0 && n % 4 == 0;
  for (int64_t t = 0; t < count && vec; ++t) vec = a_off[t] % 4 == 0 && b_off[t] % 4 == 0;
  const std::shared_ptr<void> da = upload_int64(device, a_off, count);
  const std::shared_ptr<void> db = upload_int64(device, b_off, count);
  for (int64_t t0 = 0; t0 < count; t0 += kMaxGridZ) {
    const int64_t z = std::min<int64_t>(kMaxGridZ, count - t0);
    launch(false, false, vec, grid_for(m, n, z), m, n, k, 1.0f, a, k, b, n, 0.0f, c, n, nullptr, ops::Act::linear,
           0.0f, static_cast<const int64_t*>(da.get()), static_cast<const int64_t*>(db.get()), m * n, t0);
  }
}

}  // namespace fastann::cuda

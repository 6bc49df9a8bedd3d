// TF32 tensor-core GEMM (nvcuda::wmma, m16n16k8, float accumulation) with the FP32 kernels' semantics: NN/NT/TN/TT,
// alpha/beta (beta == 0 never reads c), bias and element-wise activation fused, any m/n/k, batched via grid z.
//
// A block computes a 128x128 tile of c with 8 warps in a 2 (rows) x 4 (columns) grid, each warp a 64x32 tile as 4x2
// accumulator fragments. k is walked in steps of 16 (two MMA k-steps of 8). Operands are staged in shared memory in
// the layout they have in global memory, so the global -> shared copies move 16 contiguous bytes (4 bytes each
// when the operands are not 16-byte aligned) and the fragment layout (row_major / col_major) absorbs the transposes:
//   "k-minor" tile (a not transposed, b transposed): [128][16 + 4], the 16 k-values of a row/column contiguous;
//   "k-major" tile (a transposed, b not transposed): [16][128 + 8], the 128 rows/columns of a k-value contiguous.
// The paddings (leading dimensions 20 and 136 floats) keep every fragment pointer 32-byte aligned, as
// load_matrix_sync requires, and put the 32 lanes of a fragment load on 32 different banks (20 and 136 are 20 and
// 8 mod 32). Shared memory is double-buffered: the next step's tiles are copied with cp.async (sm_80; no register
// staging, and its zero-fill pads the tiles at the matrix edges) while the current step's MMAs run. Fragments are
// rounded to TF32 (__float_to_tf32) after loading: the tensor cores read 10 mantissa bits; accumulation is float32.
// The epilogue goes through shared memory (the accumulator's element layout is opaque): each warp stores one 16x16
// fragment at a time into a private 16x20 staging area that reuses the (by then idle) operand buffers, and the lanes
// apply the epilogue to rows of 16 consecutive columns of c.
#include <cuda_runtime.h>
#include <mma.h>

#include <cstdint>
#include <type_traits>

#include "backends/cuda/backend.hpp"
#include "backends/cuda/gemm_common.cuh"
#include "backends/cuda/gemm_tf32.hpp"
#include "backends/cuda/internal.hpp"

namespace fastann::cuda {

namespace {

constexpr int TM = kTf32TileM, TN = kTf32TileN, TK = 16, THREADS = 256;
constexpr int WARP_M = 64, WARP_N = 32, FM = WARP_M / 16, FN = WARP_N / 16;  // 2 x 4 warps
constexpr int LD_KMINOR = TK + 4;                                            // [128][20]
constexpr int LD_KMAJOR = TM + 8;                                            // [16][136]
constexpr int SIZE_KMINOR = TM * LD_KMINOR;
constexpr int SIZE_KMAJOR = TK * LD_KMAJOR;
constexpr int LD_STAGE = 20;
static_assert(TM == TN, "the tile layouts assume square block tiles");
static_assert((THREADS / 32) * 16 * LD_STAGE <= 2 * 2 * SIZE_KMAJOR, "the epilogue staging must fit the buffers");

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
// Asynchronous global -> shared copies (sm_80+): the data does not pass through registers, which keeps the kernel
// within 128 registers (2 blocks per SM) without spilling. src_bytes < size zero-fills the rest of the destination,
// which pads the tiles at the matrix edges; with src_bytes == 0 nothing is read (src is still a valid address).
__device__ __forceinline__ void cp_async16(float* dst, const float* src, int src_bytes) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async4(float* dst, const float* src, int src_bytes) {
  const unsigned d = static_cast<unsigned>(__cvta_generic_to_shared(dst));
  asm volatile("cp.async.ca.shared.global [%0], [%1], 4, %2;\n" ::"r"(d), "l"(src), "r"(src_bytes) : "memory");
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

// Queues this thread's 2 x 4 floats of one operand tile for the k-step at k0 into the shared tile s:
//  k-minor: tile element (r, kq..kq+3) <- p[(base + r) * ld + k0 + kq]   (r < 128, kq in {0, 4, 8, 12});
//  k-major: tile element (kk, q4..q4+3) <- p[(k0 + kk) * ld + base + q4]  (kk < 16, q4 in {0, 4, ..., 124}).
// Rows/columns at or beyond `rows` and k-values at or beyond k are zero-filled. VEC: p is 16-byte aligned and ld a
// multiple of 4, so each group of 4 starts 16-byte aligned (k0, kq, q4 are multiples of 4).
template <bool KMINOR, bool VEC>
__device__ __forceinline__ void copy_tile(float* s, const float* __restrict__ p, int64_t ld, int64_t base, int64_t rows,
                                          int64_t k, int64_t k0, int tid) {
  using gemm_detail::clamp4;
#pragma unroll
  for (int h = 0; h < 2; ++h) {
    const int idx = tid + h * THREADS;
    int cnt;
    const float* src;
    float* dst;
    if (KMINOR) {
      const int r = idx / 4, kq = (idx % 4) * 4;
      const int64_t gr = base + r, gk = k0 + kq;
      cnt = gr < rows ? clamp4(k - gk) : 0;
      src = cnt > 0 ? p + gr * ld + gk : p;
      dst = s + r * LD_KMINOR + kq;
    } else {
      const int kk = idx / 32, q4 = (idx % 32) * 4;
      const int64_t gk = k0 + kk, gr = base + q4;
      cnt = gk < k ? clamp4(rows - gr) : 0;
      src = cnt > 0 ? p + gk * ld + gr : p;
      dst = s + kk * LD_KMAJOR + q4;
    }
    if (VEC) {
      cp_async16(dst, src, cnt * 4);
    } else {
#pragma unroll
      for (int q = 0; q < 4; ++q) cp_async4(dst + q, q < cnt ? src + q : p, q < cnt ? 4 : 0);
    }
  }
}
#endif

template <bool TA, bool TB, bool VEC>
__global__ void __launch_bounds__(THREADS, 2)
    gemm_tf32_kernel(int64_t m, int64_t n, int64_t k, const float* __restrict__ A, int64_t lda,
                     const float* __restrict__ B, int64_t ldb, float* __restrict__ C, int64_t ldc,
                     gemm_detail::Epilogue ep, const int64_t* __restrict__ a_off, const int64_t* __restrict__ b_off,
                     int64_t c_stride, int64_t batch0, int64_t k_split) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  namespace wmma = nvcuda::wmma;
  // a is k-minor unless transposed; b is k-minor when transposed.
  constexpr bool A_KMINOR = !TA, B_KMINOR = TB;
  constexpr int SA = A_KMINOR ? SIZE_KMINOR : SIZE_KMAJOR;
  constexpr int SB = B_KMINOR ? SIZE_KMINOR : SIZE_KMAJOR;
  using LayoutA = std::conditional_t<A_KMINOR, wmma::row_major, wmma::col_major>;
  using LayoutB = std::conditional_t<B_KMINOR, wmma::col_major, wmma::row_major>;
  constexpr int LDA_S = A_KMINOR ? LD_KMINOR : LD_KMAJOR;
  constexpr int LDB_S = B_KMINOR ? LD_KMINOR : LD_KMAJOR;
  // [a buffer 0 | a buffer 1 | b buffer 0 | b buffer 1]; every part starts at a multiple of 32 bytes.
  __shared__ __align__(128) float smem[2 * (SA + SB)];

  gemm_detail::enter_block_product<TA, TB>(A, lda, B, ldb, C, c_stride, k, a_off, b_off, batch0, k_split);
  const int tid = threadIdx.x;
  const int warp = tid / 32, lane = tid % 32;
  const int wm = warp / 4, wn = warp % 4;  // this warp's tile: rows wm*64..+64, columns wn*32..+32 of the block's
  const int64_t row0 = static_cast<int64_t>(blockIdx.y) * TM;
  const int64_t col0 = static_cast<int64_t>(blockIdx.x) * TN;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[FM][FN];
#pragma unroll
  for (int i = 0; i < FM; ++i)
#pragma unroll
    for (int j = 0; j < FN; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  // op(a) tile rows are rows of c (bound m), op(b) tile columns are columns of c (bound n).
  auto issue = [&](int64_t k0, int buf) {
    copy_tile<A_KMINOR, VEC>(smem + buf * SA, A, lda, row0, m, k, k0, tid);
    copy_tile<B_KMINOR, VEC>(smem + 2 * SA + buf * SB, B, ldb, col0, n, k, k0, tid);
    cp_async_commit();
  };

  const int64_t steps = (k + TK - 1) / TK;  // 0 when k == 0: the accumulators stay 0
  if (steps > 0) issue(0, 0);
  for (int64_t s = 0; s < steps; ++s) {
    const int cur = static_cast<int>(s & 1);
    // Queue step s + 1 into the other buffer (last read in step s - 1, whose trailing barrier all threads passed),
    // then wait for this thread's copies of step s only; the barrier makes every thread's copies visible.
    if (s + 1 < steps) {
      issue((s + 1) * TK, cur ^ 1);
      cp_async_wait<1>();
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
    const float* as = smem + cur * SA;
    const float* bs = smem + 2 * SA + cur * SB;
#pragma unroll
    for (int kk = 0; kk < TK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, LayoutA> fa[FM];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, LayoutB> fb[FN];
#pragma unroll
      for (int i = 0; i < FM; ++i) {
        const int r = wm * WARP_M + i * 16;  // tile row of the fragment's first row
        const float* p = A_KMINOR ? as + r * LDA_S + kk : as + kk * LDA_S + r;
        wmma::load_matrix_sync(fa[i], p, LDA_S);
#pragma unroll
        for (int e = 0; e < fa[i].num_elements; ++e) fa[i].x[e] = wmma::__float_to_tf32(fa[i].x[e]);
      }
#pragma unroll
      for (int j = 0; j < FN; ++j) {
        const int c = wn * WARP_N + j * 16;  // tile column of the fragment's first column
        const float* p = B_KMINOR ? bs + c * LDB_S + kk : bs + kk * LDB_S + c;
        wmma::load_matrix_sync(fb[j], p, LDB_S);
#pragma unroll
        for (int e = 0; e < fb[j].num_elements; ++e) fb[j].x[e] = wmma::__float_to_tf32(fb[j].x[e]);
      }
#pragma unroll
      for (int i = 0; i < FM; ++i)
#pragma unroll
        for (int j = 0; j < FN; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();  // every warp is done reading buffer cur before step s + 1 queues copies into it
  }

  // Epilogue. After the last barrier no thread reads the operand buffers any more (also when steps == 0), so each
  // warp may use its slice as staging.
  float* stage = smem + warp * 16 * LD_STAGE;
#pragma unroll
  for (int i = 0; i < FM; ++i) {
#pragma unroll
    for (int j = 0; j < FN; ++j) {
      const int64_t r0 = row0 + wm * WARP_M + i * 16, c0 = col0 + wn * WARP_N + j * 16;
      if (r0 >= m || c0 >= n) continue;  // uniform across the warp
      wmma::store_matrix_sync(stage, acc[i][j], LD_STAGE, wmma::mem_row_major);
      __syncwarp();
      // Lane l handles column l % 16 of rows l / 16, l / 16 + 2, ...: a half warp covers 16 consecutive columns.
#pragma unroll
      for (int e = lane; e < 256; e += 32) {
        const int rr = e / 16, cc = e % 16;
        const int64_t r = r0 + rr, c = c0 + cc;
        if (r < m && c < n) {
          float* cp = C + r * ldc + c;
          const float old = ep.beta != 0.0f ? *cp : 0.0f;
          *cp = gemm_detail::epilogue(ep, stage[rr * LD_STAGE + cc], old, c);
        }
      }
      __syncwarp();  // the staging area is overwritten by the next fragment
    }
  }
#elif defined(__CUDA_ARCH__)
  __trap();  // never launched: the host selects this kernel only for compute capability >= 8.0
#endif
}

template <bool TA, bool TB>
void launch_t(bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b,
              int64_t ldb, float* c, int64_t ldc, const gemm_detail::Epilogue& ep, const int64_t* a_off,
              const int64_t* b_off, int64_t c_stride, int64_t batch0, int64_t k_split) {
  if (vec) {
    gemm_tf32_kernel<TA, TB, true>
        <<<grid, THREADS, 0, stream()>>>(m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0, k_split);
  } else {
    gemm_tf32_kernel<TA, TB, false>
        <<<grid, THREADS, 0, stream()>>>(m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0, k_split);
  }
  FASTANN_CUDA_CHECK_LAUNCH("gemm_tf32");
}

}  // namespace

void launch_gemm_tf32(bool trans_a, bool trans_b, bool vec, dim3 grid, int64_t m, int64_t n, int64_t k, const float* a,
                      int64_t lda, const float* b, int64_t ldb, float* c, int64_t ldc, const gemm_detail::Epilogue& ep,
                      const int64_t* a_off, const int64_t* b_off, int64_t c_stride, int64_t batch0, int64_t k_split) {
  if (!trans_a && !trans_b) {
    launch_t<false, false>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0, k_split);
  } else if (!trans_a && trans_b) {
    launch_t<false, true>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0, k_split);
  } else if (trans_a && !trans_b) {
    launch_t<true, false>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0, k_split);
  } else {
    launch_t<true, true>(vec, grid, m, n, k, a, lda, b, ldb, c, ldc, ep, a_off, b_off, c_stride, batch0, k_split);
  }
}

}  // namespace fastann::cuda

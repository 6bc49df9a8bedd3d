// AVX-512 micro-kernels: wide tile 14 x 32 (28 zmm accumulators, two B vectors, A broadcast per row) and narrow
// tile 28 x 16 for n <= 16, plus AVX-512 transposing pack routines. Compiled with -mavx512f -mavx512vl -mavx512bw
// -mavx512dq -mfma -mavx2; only called when cpuid and xgetbv report AVX-512 (see dispatch.cpp).
#include "backends/cpu/gemm/kernel_set.hpp"

#if defined(__AVX512F__) && defined(__AVX512VL__) && defined(__AVX512BW__) && defined(__AVX512DQ__) && defined(__FMA__)

// GCC 12 reports its own _mm512_undefined_ps() as uninitialised (GCC bug 105593) once the transposes inline.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop
#else
#include <immintrin.h>
#endif

#include <array>
#include <utility>

namespace fastann::cpu::gemm {
namespace {

inline int64_t pack_min(int64_t x, int64_t y) { return x < y ? x : y; }

constexpr int kMr = 14, kNr = 32, kMrNarrow = 28, kNrNarrow = 16;

inline __mmask16 tail_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xFFFF) : n <= 0 ? 0 : static_cast<__mmask16>((1u << n) - 1u);
}

// C[0:MR, 0:n] (n <= 16 * NV, columns past n masked) = alpha * sum_p A(:, p) B(p, :) + beta * C + bias, with
// A(i, p) = a[i * rsa + p * csa], B(p, :) at b + p * ldb, MR x NV accumulators in registers. bias: per column
// (bias_inc 1), one value for all (bias_inc 0) or none. Shared by the packed micro-tile (rsa = bias_inc = 1) and the
// unpacked few-row path. STRIDED (runtime rsa, the few-row path): A's rows are addressed from one base pointer per 4
// rows plus rsa and 3 * rsa, so every row address is an x86 addressing mode (base + index * {1, 2}); one offset
// register per row would be spilled to the stack for more than 4 rows.
template <int MR, int NV, bool STRIDED = false>
FASTANN_ALWAYS_INLINE void fma_block(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb,
                                     float* c, int64_t ldc, int64_t n, float alpha, float beta, const float* bias,
                                     int64_t bias_inc) {
  __mmask16 mk[NV];
  FASTANN_UNROLL
  for (int v = 0; v < NV; ++v) mk[v] = tail_mask(n - 16 * v);
  __m512 acc[MR][NV];
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) {
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_setzero_ps();
  }
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) _mm_prefetch(reinterpret_cast<const char*>(c + i * ldc), _MM_HINT_T0);
  constexpr int kGroups = (MR + 3) / 4;
  const float* ag[kGroups];
  FASTANN_UNROLL
  for (int g = 0; g < kGroups; ++g) ag[g] = a + 4 * g * rsa;
  const int64_t rsa3 = 3 * rsa;
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    __m512 bv[NV];
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_maskz_loadu_ps(mk[v], b + 16 * v);
    FASTANN_UNROLL
    for (int i = 0; i < MR; ++i) {
      float ax;
      if (STRIDED) {
        const float* r = ag[i / 4];
        ax = i % 4 == 0 ? r[0] : i % 4 == 1 ? r[rsa] : i % 4 == 2 ? r[2 * rsa] : r[rsa3];
      } else {
        ax = a[i * rsa];
      }
      const __m512 ai = _mm512_set1_ps(ax);
      FASTANN_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm512_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += csa;
    if (STRIDED) {
      FASTANN_UNROLL
      for (int g = 0; g < kGroups; ++g) ag[g] += csa;
    }
    b += ldb;
  }
  const __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
  const bool scale = alpha != 1.0f;
  __m512 vbias[NV];
  FASTANN_UNROLL
  for (int v = 0; v < NV; ++v) {
    vbias[v] = !bias           ? _mm512_setzero_ps()
               : bias_inc == 0 ? _mm512_set1_ps(bias[0])
                               : _mm512_maskz_loadu_ps(mk[v], bias + 16 * v);
  }
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) {
      __m512 r = scale ? _mm512_mul_ps(acc[i][v], va) : acc[i][v];
      if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(mk[v], cr + 16 * v), r);
      r = _mm512_add_ps(r, vbias[v]);
      _mm512_mask_storeu_ps(cr + 16 * v, mk[v], r);
    }
  }
}

// C tile (MR x 16*NV, columns past n masked) = alpha * sum_p A(:, p) B(p, :) + beta * C + bias; packed A.
template <int MR, int NV>
void tile(int64_t k, const float* a, int64_t csa, const float* b, int64_t rsb, float* c, int64_t ldc, int64_t n,
          float alpha, float beta, const float* bias) {
  fma_block<MR, NV>(k, a, 1, csa, b, rsb, c, ldc, n, alpha, beta, bias, 1);
}

template <int NV, std::size_t... I>
struct TileTable {
  static constexpr TileFn fns[sizeof...(I)] = {&tile<static_cast<int>(I) + 1, NV>...};
};

template <int NV, std::size_t... I>
constexpr const TileFn* tile_table(std::index_sequence<I...>) {
  return TileTable<NV, I...>::fns;
}

// In-register transpose of a 16 x 16 block: r[i] lane j  ->  r[j] lane i.
inline void transpose16(__m512 r[16]) {
  __m512 t[16];
  FASTANN_UNROLL
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  FASTANN_UNROLL
  for (int g = 0; g < 4; ++g) {
    r[4 * g + 0] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
    r[4 * g + 1] = _mm512_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xEE);
    r[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    r[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  FASTANN_UNROLL
  for (int h = 0; h < 2; ++h) {
    FASTANN_UNROLL
    for (int q = 0; q < 4; ++q) {
      t[8 * h + q] = _mm512_shuffle_f32x4(r[8 * h + q], r[8 * h + 4 + q], 0x88);
      t[8 * h + 4 + q] = _mm512_shuffle_f32x4(r[8 * h + q], r[8 * h + 4 + q], 0xDD);
    }
  }
  FASTANN_UNROLL
  for (int q = 0; q < 8; ++q) {
    r[q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0x88);
    r[8 + q] = _mm512_shuffle_f32x4(t[q], t[8 + q], 0xDD);
  }
}

// Transposes src (rows x cols block, row stride lds, rows/cols <= 16) into dst (cols rows of `rows` lanes, row
// stride ldd): dst[q * ldd + i] = src[i * lds + q].
inline void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  __m512 r[16];
  const __mmask16 mc = tail_mask(cols), mr = tail_mask(rows);
  FASTANN_UNROLL
  for (int i = 0; i < 16; ++i) r[i] = i < rows ? _mm512_maskz_loadu_ps(mc, src + i * lds) : _mm512_setzero_ps();
  transpose16(r);
  if (rows == 16 && cols == 16) {
    FASTANN_UNROLL
    for (int q = 0; q < 16; ++q) _mm512_storeu_ps(dst + q * ldd, r[q]);
  } else {
    for (int q = 0; q < cols; ++q) _mm512_mask_storeu_ps(dst + q * ldd, mr, r[q]);
  }
}

// dst[p * ldd + j] = src[p * lds + j] for p < rows, j < cols (row-by-row copy with masked vectors).
inline void copy_rows(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  if (cols == 32) {
    for (int64_t p = 0; p < rows; ++p) {
      _mm512_storeu_ps(dst + p * ldd, _mm512_loadu_ps(src + p * lds));
      _mm512_storeu_ps(dst + p * ldd + 16, _mm512_loadu_ps(src + p * lds + 16));
    }
    return;
  }
  for (int64_t j0 = 0; j0 < cols; j0 += 16) {
    const __mmask16 mk = tail_mask(cols - j0);
    for (int64_t p = 0; p < rows; ++p)
      _mm512_mask_storeu_ps(dst + p * ldd + j0, mk, _mm512_maskz_loadu_ps(mk, src + p * lds + j0));
  }
}

void pack_a(bool ta, const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float* dst) {
  if (ta) {  // op(A)(i, p) = a[p * lda + i]: each k-step of a panel is a contiguous run of rows
    for (int64_t r = 0; r < mc; r += mr) copy_rows(a + r, lda, kc, pack_min(mr, mc - r), dst + r * kc, mr);
    return;
  }
  // op(A)(i, p) = a[i * lda + p]: transpose 16 x 16 blocks of each mr-row panel.
  for (int64_t r = 0; r < mc; r += mr) {
    const int64_t rows = pack_min(mr, mc - r);
    float* d = dst + r * kc;
    for (int64_t i0 = 0; i0 < rows; i0 += 16) {
      const int64_t ib = pack_min(16, rows - i0);
      for (int64_t p0 = 0; p0 < kc; p0 += 16)
        transpose_block(a + (r + i0) * lda + p0, lda, ib, pack_min(16, kc - p0), d + p0 * mr + i0, mr);
    }
  }
}

void pack_b(bool tb, const float* b, int64_t ldb, int64_t kc, int64_t nc, int64_t nr, float* dst) {
  if (!tb) {  // op(B)(p, j) = b[p * ldb + j]: copy nr-wide strips
    for (int64_t q = 0; q < nc; q += nr) copy_rows(b + q, ldb, kc, pack_min(nr, nc - q), dst + q * kc, nr);
    return;
  }
  // op(B)(p, j) = b[j * ldb + p]: transpose 16 x 16 blocks of each nr-column panel.
  for (int64_t q = 0; q < nc; q += nr) {
    const int64_t cols = pack_min(nr, nc - q);
    float* d = dst + q * kc;
    for (int64_t j0 = 0; j0 < cols; j0 += 16) {
      const int64_t jb = pack_min(16, cols - j0);
      for (int64_t p0 = 0; p0 < kc; p0 += 16)
        transpose_block(b + (q + j0) * ldb + p0, ldb, jb, pack_min(16, kc - p0), d + p0 * nr + j0, nr);
    }
  }
}

// --- small-m kernels (see kernel_set.hpp) -------------------------------------------------------------------

// The remaining columns (rest < 16 * NV) with the fewest vectors per row that cover them: V, V / 2, ... 1.
template <int MR, int V>
FASTANN_ALWAYS_INLINE void small_m_tail(int64_t rest, int64_t k, const float* a, int64_t rsa, int64_t csa,
                                        const float* b, int64_t ldb, float* c, int64_t ldc, float alpha, float beta,
                                        const float* bias, int64_t bias_inc) {
  if constexpr (V > 1) {
    if (rest <= 16 * (V / 2)) {
      return small_m_tail<MR, V / 2>(rest, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    }
  }
  fma_block<MR, V, true>(k, a, rsa, csa, b, ldb, c, ldc, rest, alpha, beta, bias, bias_inc);
}

// Column blocks of 16 * NV, then the remainder (no FMAs on fully masked vectors: a 10-column output layer costs one
// vector per row). One row gets 16 vectors (1 KB of each row of B per k-step: long contiguous runs keep the L2
// prefetcher streaming a large weight matrix; 4 vectors per row reached ~60% of the L2 bandwidth), two rows 8.
template <int MR>
void small_m_rows(int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                  int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  constexpr int NV = MR == 1 ? 16 : MR == 2 ? 8 : MR <= 4 ? 4 : 2;
  int64_t j0 = 0;
  for (; j0 + 16 * NV <= n; j0 += 16 * NV) {
    fma_block<MR, NV, true>(k, a, rsa, csa, b + j0, ldb, c + j0, ldc, 16 * NV, alpha, beta,
                            bias ? bias + j0 * bias_inc : nullptr, bias_inc);
  }
  if (j0 < n) {
    small_m_tail<MR, NV>(n - j0, k, a, rsa, csa, b + j0, ldb, c + j0, ldc, alpha, beta,
                         bias ? bias + j0 * bias_inc : nullptr, bias_inc);
  }
}

// 9 to 16 rows of a product at most 16 columns wide: one accumulator per row, so 16 independent FMA chains hide the
// FMA latency (two 8-row calls would each wait on 8 chains and pay the prologue and epilogue twice).
template <int MR>
void tall_narrow(int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                 int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  fma_block<MR, 1, true>(k, a, rsa, csa, b, ldb, c, ldc, n, alpha, beta, bias, bias_inc);
}

using TallNarrowFn = void (*)(int64_t, int64_t, const float*, int64_t, int64_t, const float*, int64_t, float*, int64_t,
                              float, float, const float*, int64_t);
template <std::size_t... I>
constexpr std::array<TallNarrowFn, sizeof...(I)> tall_narrow_table(std::index_sequence<I...>) {
  return {&tall_narrow<kSmallM + 1 + static_cast<int>(I)>...};
}
constexpr int kSmallMMax = 16;
constexpr auto kTallNarrow = tall_narrow_table(std::make_index_sequence<kSmallMMax - kSmallM>{});

void small_m(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb,
             float* c, int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  if (m > kSmallM) {
    if (n <= 16) return kTallNarrow[m - kSmallM - 1](n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    const int64_t top = (m + 1) / 2;  // wider: two calls of at most 8 rows with two or four vectors per row
    small_m(top, n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    return small_m(m - top, n, k, a + top * rsa, rsa, csa, b, ldb, c + top * ldc, ldc, alpha, beta, bias, bias_inc);
  }
  switch (m) {
    case 1:
      return small_m_rows<1>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 2:
      return small_m_rows<2>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 3:
      return small_m_rows<3>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 4:
      return small_m_rows<4>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 5:
      return small_m_rows<5>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 6:
      return small_m_rows<6>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 7:
      return small_m_rows<7>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    case 8:
      return small_m_rows<8>(n, k, a, rsa, csa, b, ldb, c, ldc, alpha, beta, bias, bias_inc);
    default:
      break;
  }
}

// One row of A against JB rows of B (dot form): 16-lane partial sums over p, then a fixed reduction.
template <int JB>
void small_dot_block(int64_t k, const float* a, const float* b, int64_t ldb, float* c, float alpha, float beta,
                     const float* bias, int64_t bias_inc) {
  __m512 acc[JB];
  FASTANN_UNROLL
  for (int j = 0; j < JB; ++j) acc[j] = _mm512_setzero_ps();
  int64_t p = 0;
  for (; p + 16 <= k; p += 16) {
    const __m512 av = _mm512_loadu_ps(a + p);
    FASTANN_UNROLL
    for (int j = 0; j < JB; ++j) acc[j] = _mm512_fmadd_ps(av, _mm512_loadu_ps(b + j * ldb + p), acc[j]);
  }
  if (p < k) {
    const __mmask16 mk = tail_mask(k - p);
    const __m512 av = _mm512_maskz_loadu_ps(mk, a + p);
    FASTANN_UNROLL
    for (int j = 0; j < JB; ++j) acc[j] = _mm512_fmadd_ps(av, _mm512_maskz_loadu_ps(mk, b + j * ldb + p), acc[j]);
  }
  FASTANN_UNROLL
  for (int j = 0; j < JB; ++j) {
    float r = _mm512_reduce_add_ps(acc[j]);
    if (alpha != 1.0f) r *= alpha;
    if (beta != 0.0f) r = __builtin_fmaf(beta, c[j], r);
    if (bias) r += bias[j * bias_inc];
    c[j] = r;
  }
}

void small_dot(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
               int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  constexpr int kJb = 8;
  int64_t j0 = 0;
  for (; j0 + kJb <= n; j0 += kJb) {  // the kJb rows of B stay in L1 while every row of A passes
    for (int64_t i = 0; i < m; ++i) {
      small_dot_block<kJb>(k, a + i * lda, b + j0 * ldb, ldb, c + i * ldc + j0, alpha, beta,
                           bias ? bias + j0 * bias_inc : nullptr, bias_inc);
    }
  }
  for (; j0 < n; ++j0) {
    for (int64_t i = 0; i < m; ++i) {
      small_dot_block<1>(k, a + i * lda, b + j0 * ldb, ldb, c + i * ldc + j0, alpha, beta,
                         bias ? bias + j0 * bias_inc : nullptr, bias_inc);
    }
  }
}

const KernelSet kSet = {
    "avx512",
    kMr,
    kNr,
    kMrNarrow,
    kNrNarrow,
    /*mc=*/kMr * 16,
    /*kc=*/256,
    /*nc=*/kNr * 32,
    tile_table<2>(std::make_index_sequence<kMr>{}),
    tile_table<1>(std::make_index_sequence<kMrNarrow>{}),
    &pack_a,
    &pack_b,
    &small_m,
    &small_dot,
    /*small_m_max=*/kSmallMMax,
    /*in_place_max_n=*/2 * kNr,
};

}  // namespace

const KernelSet* kernels_avx512() { return &kSet; }

}  // namespace fastann::cpu::gemm

#else

namespace fastann::cpu::gemm {
const KernelSet* kernels_avx512() { return nullptr; }
}  // namespace fastann::cpu::gemm

#endif

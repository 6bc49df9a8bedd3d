// AVX2 + FMA micro-kernels: wide tile 6 x 16 (12 ymm accumulators) and narrow tile 12 x 8 for n <= 8, plus
// transposing pack routines. Compiled with -mavx2 -mfma; only called when cpuid/xgetbv report AVX2 and FMA.
#include "backends/cpu/gemm/kernel_set.hpp"

#if defined(__AVX2__) && defined(__FMA__)

#include <immintrin.h>

#include <utility>

namespace fastann::cpu::gemm {
namespace {

inline int64_t pack_min(int64_t x, int64_t y) { return x < y ? x : y; }

constexpr int kMr = 6, kNr = 16, kMrNarrow = 12, kNrNarrow = 8;

// Lanes [0, n) set (n clamped to [0, 8]).
inline __m256i tail_mask(int64_t n) {
  const int c = n < 0 ? 0 : n > 8 ? 8 : static_cast<int>(n);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(c), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// FULL: all 8*NV columns valid (plain loads and stores); else columns past n are masked.
template <int MR, int NV, bool FULL>
void tile_impl(int64_t k, const float* a, int64_t csa, const float* b, int64_t rsb, float* c, int64_t ldc, int64_t n,
               float alpha, float beta, const float* bias) {
  __m256i mk[NV];
  FASTANN_UNROLL
  for (int v = 0; v < NV; ++v) mk[v] = tail_mask(n - 8 * v);
  __m256 acc[MR][NV];
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) {
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = FULL ? _mm256_loadu_ps(b + 8 * v) : _mm256_maskload_ps(b + 8 * v, mk[v]);
    FASTANN_UNROLL
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i);
      FASTANN_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += csa;
    b += rsb;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool scale = alpha != 1.0f;
  __m256 vbias[NV];
  FASTANN_UNROLL
  for (int v = 0; v < NV; ++v) {
    vbias[v] = !bias  ? _mm256_setzero_ps()
               : FULL ? _mm256_loadu_ps(bias + 8 * v)
                      : _mm256_maskload_ps(bias + 8 * v, mk[v]);
  }
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) {
      __m256 r = scale ? _mm256_mul_ps(acc[i][v], va) : acc[i][v];
      if (beta != 0.0f) {
        const __m256 old = FULL ? _mm256_loadu_ps(cr + 8 * v) : _mm256_maskload_ps(cr + 8 * v, mk[v]);
        r = _mm256_fmadd_ps(vb, old, r);
      }
      r = _mm256_add_ps(r, vbias[v]);
      if (FULL) {
        _mm256_storeu_ps(cr + 8 * v, r);
      } else {
        _mm256_maskstore_ps(cr + 8 * v, mk[v], r);
      }
    }
  }
}

template <int MR, int NV>
void tile(int64_t k, const float* a, int64_t csa, const float* b, int64_t rsb, float* c, int64_t ldc, int64_t n,
          float alpha, float beta, const float* bias) {
  if (n >= 8 * NV) {
    tile_impl<MR, NV, true>(k, a, csa, b, rsb, c, ldc, n, alpha, beta, bias);
  } else {
    tile_impl<MR, NV, false>(k, a, csa, b, rsb, c, ldc, n, alpha, beta, bias);
  }
}

template <int NV, std::size_t... I>
struct TileTable {
  static constexpr TileFn fns[sizeof...(I)] = {&tile<static_cast<int>(I) + 1, NV>...};
};

template <int NV, std::size_t... I>
constexpr const TileFn* tile_table(std::index_sequence<I...>) {
  return TileTable<NV, I...>::fns;
}

// In-register transpose of an 8 x 8 block: r[i] lane j  ->  r[j] lane i.
inline void transpose8(__m256 r[8]) {
  __m256 t[8], s[8];
  FASTANN_UNROLL
  for (int i = 0; i < 4; ++i) {
    t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  FASTANN_UNROLL
  for (int g = 0; g < 2; ++g) {
    s[4 * g + 0] = _mm256_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0x44);
    s[4 * g + 1] = _mm256_shuffle_ps(t[4 * g + 0], t[4 * g + 2], 0xEE);
    s[4 * g + 2] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0x44);
    s[4 * g + 3] = _mm256_shuffle_ps(t[4 * g + 1], t[4 * g + 3], 0xEE);
  }
  FASTANN_UNROLL
  for (int q = 0; q < 4; ++q) {
    r[q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x20);
    r[4 + q] = _mm256_permute2f128_ps(s[q], s[4 + q], 0x31);
  }
}

// dst[q * ldd + i] = src[i * lds + q] for i < rows, q < cols (both <= 8).
inline void transpose_block(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  __m256 r[8];
  if (rows == 8 && cols == 8) {
    FASTANN_UNROLL
    for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(src + i * lds);
    transpose8(r);
    FASTANN_UNROLL
    for (int q = 0; q < 8; ++q) _mm256_storeu_ps(dst + q * ldd, r[q]);
    return;
  }
  const __m256i mc = tail_mask(cols), mr = tail_mask(rows);
  FASTANN_UNROLL
  for (int i = 0; i < 8; ++i) r[i] = i < rows ? _mm256_maskload_ps(src + i * lds, mc) : _mm256_setzero_ps();
  transpose8(r);
  for (int q = 0; q < cols; ++q) _mm256_maskstore_ps(dst + q * ldd, mr, r[q]);
}

// dst[p * ldd + j] = src[p * lds + j] for p < rows, j < cols (row-by-row copy with masked vectors).
inline void copy_rows(const float* src, int64_t lds, int64_t rows, int64_t cols, float* dst, int64_t ldd) {
  if (cols == 16) {
    for (int64_t p = 0; p < rows; ++p) {
      _mm256_storeu_ps(dst + p * ldd, _mm256_loadu_ps(src + p * lds));
      _mm256_storeu_ps(dst + p * ldd + 8, _mm256_loadu_ps(src + p * lds + 8));
    }
    return;
  }
  for (int64_t j0 = 0; j0 < cols; j0 += 8) {
    const __m256i mk = tail_mask(cols - j0);
    for (int64_t p = 0; p < rows; ++p)
      _mm256_maskstore_ps(dst + p * ldd + j0, mk, _mm256_maskload_ps(src + p * lds + j0, mk));
  }
}

void pack_a(bool ta, const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float* dst) {
  if (ta) {  // op(A)(i, p) = a[p * lda + i]: each k-step of a panel is a contiguous run of rows
    for (int64_t r = 0; r < mc; r += mr) copy_rows(a + r, lda, kc, pack_min(mr, mc - r), dst + r * kc, mr);
    return;
  }
  for (int64_t r = 0; r < mc; r += mr) {
    const int64_t rows = pack_min(mr, mc - r);
    float* d = dst + r * kc;
    for (int64_t i0 = 0; i0 < rows; i0 += 8) {
      const int64_t ib = pack_min(8, rows - i0);
      for (int64_t p0 = 0; p0 < kc; p0 += 8)
        transpose_block(a + (r + i0) * lda + p0, lda, ib, pack_min(8, kc - p0), d + p0 * mr + i0, mr);
    }
  }
}

void pack_b(bool tb, const float* b, int64_t ldb, int64_t kc, int64_t nc, int64_t nr, float* dst) {
  if (!tb) {  // op(B)(p, j) = b[p * ldb + j]: copy nr-wide strips
    for (int64_t q = 0; q < nc; q += nr) copy_rows(b + q, ldb, kc, pack_min(nr, nc - q), dst + q * kc, nr);
    return;
  }
  for (int64_t q = 0; q < nc; q += nr) {
    const int64_t cols = pack_min(nr, nc - q);
    float* d = dst + q * kc;
    for (int64_t j0 = 0; j0 < cols; j0 += 8) {
      const int64_t jb = pack_min(8, cols - j0);
      for (int64_t p0 = 0; p0 < kc; p0 += 8)
        transpose_block(b + (q + j0) * ldb + p0, ldb, jb, pack_min(8, kc - p0), d + p0 * nr + j0, nr);
    }
  }
}

// --- small-m kernels (see kernel_set.hpp) -------------------------------------------------------------------

// C[0:MR, 0:n] (n <= 8 * NV) of the axpy form: B rows streamed, MR x NV accumulators in registers.
template <int MR, int NV, bool FULL>
void small_m_block(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                   int64_t ldc, int64_t n, float alpha, float beta, const float* bias, int64_t bias_inc) {
  __m256i mk[NV];
  FASTANN_UNROLL
  for (int v = 0; v < NV; ++v) mk[v] = tail_mask(n - 8 * v);
  __m256 acc[MR][NV];
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) {
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_setzero_ps();
  }
#pragma GCC unroll 2
  for (int64_t p = 0; p < k; ++p) {
    __m256 bv[NV];
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) bv[v] = FULL ? _mm256_loadu_ps(b + 8 * v) : _mm256_maskload_ps(b + 8 * v, mk[v]);
    FASTANN_UNROLL
    for (int i = 0; i < MR; ++i) {
      const __m256 ai = _mm256_broadcast_ss(a + i * rsa);
      FASTANN_UNROLL
      for (int v = 0; v < NV; ++v) acc[i][v] = _mm256_fmadd_ps(ai, bv[v], acc[i][v]);
    }
    a += csa;
    b += ldb;
  }
  const __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
  const bool scale = alpha != 1.0f;
  __m256 vbias[NV];
  FASTANN_UNROLL
  for (int v = 0; v < NV; ++v) {
    vbias[v] = !bias           ? _mm256_setzero_ps()
               : bias_inc == 0 ? _mm256_set1_ps(bias[0])
               : FULL          ? _mm256_loadu_ps(bias + 8 * v)
                               : _mm256_maskload_ps(bias + 8 * v, mk[v]);
  }
  FASTANN_UNROLL
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    FASTANN_UNROLL
    for (int v = 0; v < NV; ++v) {
      __m256 r = scale ? _mm256_mul_ps(acc[i][v], va) : acc[i][v];
      if (beta != 0.0f) {
        const __m256 old = FULL ? _mm256_loadu_ps(cr + 8 * v) : _mm256_maskload_ps(cr + 8 * v, mk[v]);
        r = _mm256_fmadd_ps(vb, old, r);
      }
      r = _mm256_add_ps(r, vbias[v]);
      if (FULL) {
        _mm256_storeu_ps(cr + 8 * v, r);
      } else {
        _mm256_maskstore_ps(cr + 8 * v, mk[v], r);
      }
    }
  }
}

template <int MR>
void small_m_rows(int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                  int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  constexpr int NV = MR <= 2 ? 4 : MR <= 6 ? 2 : 1;
  int64_t j0 = 0;
  for (; j0 + 8 * NV <= n; j0 += 8 * NV) {
    small_m_block<MR, NV, true>(k, a, rsa, csa, b + j0, ldb, c + j0, ldc, 8 * NV, alpha, beta,
                                bias ? bias + j0 * bias_inc : nullptr, bias_inc);
  }
  if (j0 < n) {
    small_m_block<MR, NV, false>(k, a, rsa, csa, b + j0, ldb, c + j0, ldc, n - j0, alpha, beta,
                                 bias ? bias + j0 * bias_inc : nullptr, bias_inc);
  }
}

void small_m(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb,
             float* c, int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
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

// Fixed-order sum of the 8 lanes.
inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
  return _mm_cvtss_f32(s);
}

// One row of A against JB rows of B (dot form): 8-lane partial sums over p, then a fixed reduction.
template <int JB>
void small_dot_block(int64_t k, const float* a, const float* b, int64_t ldb, float* c, float alpha, float beta,
                     const float* bias, int64_t bias_inc) {
  __m256 acc[JB];
  FASTANN_UNROLL
  for (int j = 0; j < JB; ++j) acc[j] = _mm256_setzero_ps();
  int64_t p = 0;
  for (; p + 8 <= k; p += 8) {
    const __m256 av = _mm256_loadu_ps(a + p);
    FASTANN_UNROLL
    for (int j = 0; j < JB; ++j) acc[j] = _mm256_fmadd_ps(av, _mm256_loadu_ps(b + j * ldb + p), acc[j]);
  }
  if (p < k) {
    const __m256i mk = tail_mask(k - p);
    const __m256 av = _mm256_maskload_ps(a + p, mk);
    FASTANN_UNROLL
    for (int j = 0; j < JB; ++j) acc[j] = _mm256_fmadd_ps(av, _mm256_maskload_ps(b + j * ldb + p, mk), acc[j]);
  }
  FASTANN_UNROLL
  for (int j = 0; j < JB; ++j) {
    float r = hsum(acc[j]);
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
    "avx2",
    kMr,
    kNr,
    kMrNarrow,
    kNrNarrow,
    /*mc=*/kMr * 24,
    /*kc=*/256,
    /*nc=*/kNr * 16,
    tile_table<2>(std::make_index_sequence<kMr>{}),
    tile_table<1>(std::make_index_sequence<kMrNarrow>{}),
    &pack_a,
    &pack_b,
    &small_m,
    &small_dot,
    /*small_m_max=*/kSmallM,
    /*in_place_max_n=*/2 * kNr,  // wider: the 6 x 16 packed tile wins
};

}  // namespace

const KernelSet* kernels_avx2() { return &kSet; }

}  // namespace fastann::cpu::gemm

#else

namespace fastann::cpu::gemm {
const KernelSet* kernels_avx2() { return nullptr; }
}  // namespace fastann::cpu::gemm

#endif

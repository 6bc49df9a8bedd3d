// Portable micro-kernels (plain C++, vectorised by the compiler for the baseline ISA): wide tile 6 x 8, narrow tile
// 8 x 4. The fallback on every CPU and the only path off x86.
#include <cstring>
#include <utility>

#include "backends/cpu/gemm/kernel_set.hpp"

namespace fastann::cpu::gemm {
namespace {

// Packing with plain loops (see kernel_set.hpp for the layouts).
inline int64_t pack_min(int64_t x, int64_t y) { return x < y ? x : y; }

// op(A)(i, p) = ta ? a[p * lda + i] : a[i * lda + p]. dst panel r (rows r*mr ..) is [p][i] with stride mr.
void pack_a(bool ta, const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float* dst) {
  for (int64_t r = 0; r < mc; r += mr) {
    const int64_t rows = pack_min(mr, mc - r);
    float* d = dst + r * kc;
    if (ta) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * mr, a + p * lda + r, sizeof(float) * rows);
    } else {
      for (int64_t i = 0; i < rows; ++i) {
        const float* s = a + (r + i) * lda;
        for (int64_t p = 0; p < kc; ++p) d[p * mr + i] = s[p];
      }
    }
  }
}

// op(B)(p, j) = tb ? b[j * ldb + p] : b[p * ldb + j]. dst panel q (columns q*nr ..) is [p][j] with stride nr.
void pack_b(bool tb, const float* b, int64_t ldb, int64_t kc, int64_t nc, int64_t nr, float* dst) {
  for (int64_t q = 0; q < nc; q += nr) {
    const int64_t cols = pack_min(nr, nc - q);
    float* d = dst + q * kc;
    if (!tb) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(d + p * nr, b + p * ldb + q, sizeof(float) * cols);
    } else {
      for (int64_t j = 0; j < cols; ++j) {
        const float* s = b + (q + j) * ldb;
        for (int64_t p = 0; p < kc; ++p) d[p * nr + j] = s[p];
      }
    }
  }
}

constexpr int kMr = 6, kNr = 8, kMrNarrow = 8, kNrNarrow = 4;

template <int MR, int NR>
void tile(int64_t k, const float* a, int64_t csa, const float* b, int64_t rsb, float* c, int64_t ldc, int64_t n,
          float alpha, float beta, const float* bias) {
  float acc[MR][NR] = {};
  if (n >= NR) {
    for (int64_t p = 0; p < k; ++p, a += csa, b += rsb) {
      FASTANN_UNROLL
      for (int i = 0; i < MR; ++i) {
        FASTANN_UNROLL
        for (int j = 0; j < NR; ++j) acc[i][j] += a[i] * b[j];
      }
    }
  } else {
    for (int64_t p = 0; p < k; ++p, a += csa, b += rsb) {
      for (int i = 0; i < MR; ++i) {
        for (int64_t j = 0; j < n; ++j) acc[i][j] += a[i] * b[j];
      }
    }
  }
  const int64_t cols = n < NR ? n : NR;
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    for (int64_t j = 0; j < cols; ++j) {
      float r = alpha * acc[i][j];
      if (beta != 0.0f) r += beta * cr[j];
      if (bias) r += bias[j];
      cr[j] = r;
    }
  }
}

template <int NR, std::size_t... I>
struct TileTable {
  static constexpr TileFn fns[sizeof...(I)] = {&tile<static_cast<int>(I) + 1, NR>...};
};

template <int NR, std::size_t... I>
constexpr const TileFn* tile_table(std::index_sequence<I...>) {
  return TileTable<NR, I...>::fns;
}

// --- small-m kernels (see kernel_set.hpp) -------------------------------------------------------------------

// C[0:MR, 0:n] (n <= kSmallCols) of the axpy form; each element one multiply-add chain over p.
constexpr int kSmallCols = 16;

template <int MR>
void small_m_block(int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                   int64_t ldc, int64_t n, float alpha, float beta, const float* bias, int64_t bias_inc) {
  float acc[MR][kSmallCols] = {};
  if (n == kSmallCols) {
    for (int64_t p = 0; p < k; ++p, a += csa, b += ldb) {
      FASTANN_UNROLL
      for (int i = 0; i < MR; ++i) {
        const float ai = a[i * rsa];
        FASTANN_UNROLL
        for (int j = 0; j < kSmallCols; ++j) acc[i][j] += ai * b[j];
      }
    }
  } else {
    for (int64_t p = 0; p < k; ++p, a += csa, b += ldb) {
      for (int i = 0; i < MR; ++i) {
        const float ai = a[i * rsa];
        for (int64_t j = 0; j < n; ++j) acc[i][j] += ai * b[j];
      }
    }
  }
  for (int i = 0; i < MR; ++i) {
    float* cr = c + i * ldc;
    for (int64_t j = 0; j < n; ++j) {
      float r = alpha * acc[i][j];
      if (beta != 0.0f) r += beta * cr[j];
      if (bias) r += bias[j * bias_inc];
      cr[j] = r;
    }
  }
}

template <int MR>
void small_m_rows(int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb, float* c,
                  int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  for (int64_t j0 = 0; j0 < n; j0 += kSmallCols) {
    small_m_block<MR>(k, a, rsa, csa, b + j0, ldb, c + j0, ldc, pack_min(kSmallCols, n - j0), alpha, beta,
                      bias ? bias + j0 * bias_inc : nullptr, bias_inc);
  }
}

void small_m(int64_t m, int64_t n, int64_t k, const float* a, int64_t rsa, int64_t csa, const float* b, int64_t ldb,
             float* c, int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  // Two rows at a time keep the accumulators in the 16 baseline vector registers.
  for (int64_t i = 0; i < m; i += 2) {
    if (m - i >= 2) {
      small_m_rows<2>(n, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, bias, bias_inc);
    } else {
      small_m_rows<1>(n, k, a + i * rsa, rsa, csa, b, ldb, c + i * ldc, ldc, alpha, beta, bias, bias_inc);
    }
  }
}

// Dot form: 8 lane partial sums over p (lane p % 8), then a fixed reduction.
void small_dot(int64_t m, int64_t n, int64_t k, const float* a, int64_t lda, const float* b, int64_t ldb, float* c,
               int64_t ldc, float alpha, float beta, const float* bias, int64_t bias_inc) {
  for (int64_t j = 0; j < n; ++j) {
    const float* bj = b + j * ldb;
    for (int64_t i = 0; i < m; ++i) {
      const float* ai = a + i * lda;
      float acc[8] = {};
      int64_t p = 0;
      for (; p + 8 <= k; p += 8) {
        FASTANN_UNROLL
        for (int l = 0; l < 8; ++l) acc[l] += ai[p + l] * bj[p + l];
      }
      for (int l = 0; p + l < k; ++l) acc[l] += ai[p + l] * bj[p + l];
      float r = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
      r *= alpha;
      float* cij = c + i * ldc + j;
      if (beta != 0.0f) r += beta * *cij;
      if (bias) r += bias[j * bias_inc];
      *cij = r;
    }
  }
}

const KernelSet kSet = {
    "generic",
    kMr,
    kNr,
    kMrNarrow,
    kNrNarrow,
    /*mc=*/kMr * 24,
    /*kc=*/256,
    /*nc=*/kNr * 32,
    tile_table<kNr>(std::make_index_sequence<kMr>{}),
    tile_table<kNrNarrow>(std::make_index_sequence<kMrNarrow>{}),
    &pack_a,
    &pack_b,
    &small_m,
    &small_dot,
    /*small_m_max=*/kSmallM,
    /*in_place_max_n=*/0,  // the packed tiles vectorise better than the few-row loops
};

}  // namespace

const KernelSet* kernels_generic() { return &kSet; }

}  // namespace fastann::cpu::gemm

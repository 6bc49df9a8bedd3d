// Portable micro-kernels (plain C++, vectorised by the compiler for the baseline ISA): wide tile 6 x 8, narrow tile
// 8 x 4. The fallback on every CPU and the only path off x86.
#include <cstring>
#include <utility>

#include "gemm_kernels.hpp"

namespace fastann::cpu::gemm {
namespace {

// Packing with plain loops (see gemm_kernels.hpp for the layouts).
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
};

}  // namespace

const KernelSet* kernels_generic() { return &kSet; }

}  // namespace fastann::cpu::gemm

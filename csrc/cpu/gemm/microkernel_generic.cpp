// Portable micro-kernels (plain C++, vectorised by the compiler for the baseline ISA): wide tile 6 x 8, narrow tile
// 8 x 4. The fallback on every CPU and the only path off x86.
#include <utility>

#include "gemm_kernels.hpp"
#include "pack_impl.hpp"

namespace fastann::cpu::gemm {
namespace {

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

void pack_a(bool ta, const float* a, int64_t lda, int64_t mc, int64_t kc, int64_t mr, float* dst) {
  pack_a_portable(ta, a, lda, mc, kc, mr, dst);
}

void pack_b(bool tb, const float* b, int64_t ldb, int64_t kc, int64_t nc, int64_t nr, float* dst) {
  pack_b_portable(tb, b, ldb, kc, nc, nr, dst);
}

const KernelSet kSet = {
    "generic",
    kMr,
    kNr,
    kMrNarrow,
    kNrNarrow,
    /*mc=*/kMr * 24,
    /*kc=*/256,
    /*nc=*/kNr * 256,
    tile_table<kNr>(std::make_index_sequence<kMr>{}),
    tile_table<kNrNarrow>(std::make_index_sequence<kMrNarrow>{}),
    &pack_a,
    &pack_b,
};

}  // namespace

const KernelSet* kernels_generic() { return &kSet; }

}  // namespace fastann::cpu::gemm

// The GEMM frame's single-thread paths for one product: k == 0 / alpha == 0 scaling, the small and mid-size path (no
// k blocking, B in place) and the BLIS-style packed path (jc -> pc -> ic -> ir -> jr around the micro-kernel).
#include <algorithm>

#include "product.hpp"

namespace fastann::cpu::gemm {
namespace {

void finish_block(const Product& P, float* c, int64_t rows, int64_t cols) {
  if (P.ep && P.ep->block_fn) P.ep->block_fn(c, P.ldc, rows, cols, P.ep->ctx);
}

// k == 0 or alpha == 0: C = beta C (+ bias), then the block function.
void scale_only(const Product& P) {
  for (int64_t i = 0; i < P.m; ++i) {
    float* cr = P.c + i * P.ldc;
    if (P.beta == 0.0f) {
      std::fill(cr, cr + P.n, 0.0f);
    } else if (P.beta != 1.0f) {
      for (int64_t j = 0; j < P.n; ++j) cr[j] *= P.beta;
    }
    if (P.bias) {
      for (int64_t j = 0; j < P.n; ++j) cr[j] += P.bias[j];
    }
  }
  finish_block(P, P.c, P.m, P.n);
}

// Narrow products (n <= in_place_max_n) with A stored (m, k): the few-row kernels broadcast A's elements from its
// rows in place, up to small_m_max rows per call. Packing A would cost a third of such a product (AVX-512,
// 16x16x16: pack + tile 76 ns, in place 61 ns), and the few-row block is as FMA-bound as the packed tile.
void run_rows_in_place(const KernelSet& ks, const Product& P, const float* b, int64_t ldb) {
  const int64_t groups = ceil_div(P.m, ks.small_m_max), base = P.m / groups, extra = P.m % groups;
  int64_t i0 = 0;
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t rows = base + (g < extra ? 1 : 0);
    float* crow = P.c + i0 * P.ldc;
    ks.small_m(rows, P.n, P.k, P.a + i0 * P.lda, P.lda, 1, b, ldb, crow, P.ldc, P.alpha, P.beta, P.bias, 1);
    finish_block(P, crow, rows, P.n);
    i0 += rows;
  }
}

// Small and mid-size products (B fits in L2): no k blocking and B read in place when stored (k, n) (packed once,
// k x n with a padded row stride, when stored transposed). A is packed one row tile at a time, except for narrow
// products, whose A rows (A stored (m, k)) or k-steps (A stored transposed) are read in place.
void run_small(const KernelSet& ks, const Product& P) {
  const float* bp = P.b;
  int64_t rsb = P.ldb;
  if (P.tb) {
    rsb = round_up(P.n, 16);
    if (rsb % 256 == 0) rsb += 16;  // avoid a power-of-two row stride (cache-set aliasing down the k rows)
    float* buf = scratch_b(P.k * rsb);
    ks.pack_b(true, P.b, P.ldb, P.k, P.n, rsb, buf);
    bp = buf;
  }
  if (!P.ta && P.n <= ks.in_place_max_n) {
    run_rows_in_place(ks, P, bp, rsb);
    return;
  }
  const bool narrow = P.n <= ks.nr_narrow;
  const int64_t mr_max = narrow ? ks.mr_narrow : ks.mr;
  const int64_t nr = narrow ? ks.nr_narrow : ks.nr;
  const bool a_in_place = P.ta && P.n <= 2 * ks.nr;
  const int64_t tiles = ceil_div(P.m, mr_max), base = P.m / tiles, extra = P.m % tiles;
  float* abuf = a_in_place ? nullptr : scratch_a(P.k * mr_max);
  int64_t i0 = 0;
  for (int64_t t = 0; t < tiles; ++t) {
    const int64_t rows = base + (t < extra ? 1 : 0);
    const float* ap;
    int64_t csa;
    if (a_in_place) {
      ap = P.a + i0;
      csa = P.lda;
    } else {
      ks.pack_a(P.ta, a_at(P.ta, P.a, P.lda, i0, 0), P.lda, rows, P.k, rows, abuf);
      ap = abuf;
      csa = rows;
    }
    float* crow = P.c + i0 * P.ldc;
    for (int64_t j0 = 0; j0 < P.n; j0 += nr) {
      const int64_t cols = std::min(nr, P.n - j0);
      const TileFn fn = cols <= ks.nr_narrow ? ks.narrow[rows - 1] : ks.wide[rows - 1];
      fn(P.k, ap, csa, bp + j0, rsb, crow + j0, P.ldc, cols, P.alpha, P.beta, P.bias ? P.bias + j0 : nullptr);
    }
    finish_block(P, crow, rows, P.n);
    i0 += rows;
  }
}

// Block sizes near the kernel set's, evened out so the last block is not a sliver.
int64_t even_block(int64_t total, int64_t target, int64_t multiple) {
  if (total <= target) return round_up(total, multiple);
  return round_up(ceil_div(total, ceil_div(total, target)), multiple);
}

// Block sizes of the packed path for a product.
struct Blocking {
  int64_t mc, kc, nc;
};

Blocking packed_blocking(const KernelSet& ks, const Product& P) {
  return {even_block(P.m, ks.mc, ks.mr), even_block(P.k, ks.kc, 1), even_block(P.n, ks.nc, ks.nr)};
}

// Rows [i_begin, i_end) of the C block (columns jc .. jc + nc) for the k range pc .. pc + kc, given the B block
// (tile q at bblk + q * panel_step, row stride rsb): packs A mc rows at a time into abuf, then for each packed A
// micro-panel (kept in L1) sweeps the B block (kept in L2).
void compute_rows(const KernelSet& ks, const Product& P, const Blocking& blk, int64_t i_begin, int64_t i_end,
                  int64_t jc, int64_t nc, int64_t pc, int64_t kc, const float* bblk, int64_t rsb, int64_t panel_step,
                  float* abuf) {
  const int64_t MR = ks.mr, NR = ks.nr;
  const bool last = pc + kc == P.k;
  const float beta = pc == 0 ? P.beta : 1.0f;
  const float* bias = last ? P.bias : nullptr;
  for (int64_t ic = i_begin; ic < i_end; ic += blk.mc) {
    const int64_t mc = std::min(blk.mc, i_end - ic);
    ks.pack_a(P.ta, a_at(P.ta, P.a, P.lda, ic, pc), P.lda, mc, kc, MR, abuf);
    float* cblk = P.c + ic * P.ldc + jc;
    for (int64_t ir = 0; ir < mc; ir += MR) {
      const int64_t rows = std::min(MR, mc - ir);
      float* crow = cblk + ir * P.ldc;
      const float* apanel = abuf + ir * kc;
      for (int64_t jr = 0, q = 0; jr < nc; jr += NR, ++q) {
        const int64_t cols = std::min(NR, nc - jr);
        const TileFn fn = cols <= ks.nr_narrow ? ks.narrow[rows - 1] : ks.wide[rows - 1];
        fn(kc, apanel, MR, bblk + q * panel_step, rsb, crow + jr, P.ldc, cols, P.alpha, beta,
           bias ? bias + jc + jr : nullptr);
      }
    }
    if (last) finish_block(P, cblk, mc, nc);
  }
}

// The packed path on one thread (loops jc -> pc -> ic -> ir -> jr).
void run_packed(const KernelSet& ks, const Product& P) {
  const Blocking blk = packed_blocking(ks, P);
  float* bbuf = scratch_b(blk.kc * blk.nc);
  float* abuf = scratch_a(blk.kc * blk.mc);
  for (int64_t jc = 0; jc < P.n; jc += blk.nc) {
    const int64_t nc = std::min(blk.nc, P.n - jc);
    for (int64_t pc = 0; pc < P.k; pc += blk.kc) {
      const int64_t kc = std::min(blk.kc, P.k - pc);
      ks.pack_b(P.tb, b_at(P.tb, P.b, P.ldb, pc, jc), P.ldb, kc, nc, ks.nr, bbuf);
      compute_rows(ks, P, blk, 0, P.m, jc, nc, pc, kc, bbuf, ks.nr, ks.nr * kc, abuf);
    }
  }
}

bool use_small_path(const KernelSet& ks, const Product& P) {
  // B (k x n) must stay L2-resident (no bigger than a packed-path B block) while every row tile sweeps it;
  // packing is pure overhead for tiny k.
  const int64_t b_block = static_cast<int64_t>(ks.kc) * ks.nc;
  if (P.k <= 16) return P.k * P.n <= 4 * b_block;
  return P.k <= 2 * ks.kc && P.k * P.n <= b_block;
}

}  // namespace

void run_product(const KernelSet& ks, const Product& P) {
  if (P.m <= 0 || P.n <= 0) return;
  if (P.k <= 0 || P.alpha == 0.0f) {
    scale_only(P);
  } else if (use_small_path(ks, P)) {
    run_small(ks, P);
  } else {
    run_packed(ks, P);
  }
}

}  // namespace fastann::cpu::gemm

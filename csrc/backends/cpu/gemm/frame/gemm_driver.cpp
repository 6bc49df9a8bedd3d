// GEMM driver: argument checks, the small/mid-size path (no k blocking, B in place), the BLIS-style packed path
// (jc -> pc -> ic -> ir -> jr around the micro-kernel) and the split of C over threads.
//
// Threading: C is cut into a tm x tn grid of rectangles, one per thread, each computed as an independent product
// with the thread's own packing buffers (no synchronisation inside a product). The grid is chosen to minimise
// per-thread compute plus the packing each thread repeats, so with 2 threads the larger of m and n is split.
#include <algorithm>
#include <cstdlib>
#include <new>
#include <stdexcept>

#include "backends/cpu/threadpool.hpp"
#include "gemm_driver.hpp"
#include "parallel.hpp"

namespace fastann::cpu {
namespace gemm {
namespace {

// Below this many flops per thread a product stays on one thread (a pool handoff costs a few microseconds).
constexpr double kMinFlopsPerThread = 1.5e6;

int64_t ceil_div(int64_t x, int64_t y) { return (x + y - 1) / y; }
int64_t round_up(int64_t x, int64_t y) { return ceil_div(x, y) * y; }

// Element (i, p) of op(A) and (p, j) of op(B).
const float* a_at(bool ta, const float* a, int64_t lda, int64_t i, int64_t p) {
  return ta ? a + p * lda + i : a + i * lda + p;
}
const float* b_at(bool tb, const float* b, int64_t ldb, int64_t p, int64_t j) {
  return tb ? b + j * ldb + p : b + p * ldb + j;
}

// A 64-byte aligned scratch buffer that only grows; one pair per thread, so steady-state calls never allocate.
class ScratchBuffer {
 public:
  ScratchBuffer() = default;
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  ~ScratchBuffer() { std::free(data_); }

  float* get(int64_t floats) {
    const size_t want = static_cast<size_t>(floats);
    if (want > cap_) {
      const size_t cap = std::max(want, cap_ + cap_ / 2);
      const size_t bytes = (cap * sizeof(float) + 63) / 64 * 64;
      void* p = std::aligned_alloc(64, bytes);
      if (!p) throw std::bad_alloc();
      std::free(data_);
      data_ = static_cast<float*>(p);
      cap_ = bytes / sizeof(float);
    }
    return data_;
  }

 private:
  float* data_ = nullptr;
  size_t cap_ = 0;
};

struct ThreadScratch {
  ScratchBuffer a, b;
};
thread_local ThreadScratch t_scratch;

// One (sub-)product on already-offset operands: C[0:m, 0:n] = alpha op(A) op(B) + beta C (+ bias, block_fn).
struct Product {
  bool ta, tb;
  int64_t m, n, k;
  float alpha;
  const float* a;
  int64_t lda;
  const float* b;
  int64_t ldb;
  float beta;
  float* c;
  int64_t ldc;
  const float* bias;                // offset to column 0 of this product, or nullptr
  const GemmEpilogue* ep;           // for block_fn/ctx, or nullptr
};

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
    float* buf = t_scratch.b.get(P.k * rsb);
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
  float* abuf = a_in_place ? nullptr : t_scratch.a.get(P.k * mr_max);
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
                  int64_t jc, int64_t nc, int64_t pc, int64_t kc, const float* bblk, int64_t rsb,
                  int64_t panel_step, float* abuf) {
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
  float* bbuf = t_scratch.b.get(blk.kc * blk.nc);
  float* abuf = t_scratch.a.get(blk.kc * blk.mc);
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

// The thread grid for a product: tm row bands x tn column bands.
struct Grid {
  int tm = 1, tn = 1;
  int64_t m_part = 0, n_part = 0;
};

Grid choose_grid(int threads, int64_t m, int64_t n) {
  Grid best;  // no valid split: one band, run inline
  best.m_part = m;
  best.n_part = n;
  double best_cost = -1.0;
  for (int tm = 1; tm <= threads; ++tm) {
    if (threads % tm) continue;
    const int tn = threads / tm;
    const int64_t m_part = ceil_div(m, tm), n_part = round_up(ceil_div(n, tn), 16);
    if (tm > 1 && m_part < 4) continue;
    if (tn > 1 && (n_part - 16) * (tn - 1) >= n) continue;  // some column band would be empty or a sliver
    // Per-thread FMAs / 32 (fmas per cycle) + repeated packing (about one cycle per two packed elements), per k.
    const double cost = static_cast<double>(m_part) * static_cast<double>(n_part) / 32.0 +
                        0.5 * static_cast<double>(m_part + n_part);
    if (best_cost < 0 || cost < best_cost) {
      best_cost = cost;
      best.tm = tm;
      best.tn = tn;
      best.m_part = m_part;
      best.n_part = n_part;
    }
  }
  return best;
}

struct ParallelJob {
  const KernelSet* ks;
  Product whole;
  Grid grid;
};

void run_band(const ParallelJob& job, int64_t t) {
  const Product& W = job.whole;
  const int64_t ti = t / job.grid.tn, tj = t % job.grid.tn;
  const int64_t i0 = ti * job.grid.m_part, j0 = tj * job.grid.n_part;
  if (i0 >= W.m || j0 >= W.n) return;
  Product P = W;
  P.m = std::min(job.grid.m_part, W.m - i0);
  P.n = std::min(job.grid.n_part, W.n - j0);
  P.a = a_at(W.ta, W.a, W.lda, i0, 0);
  P.b = b_at(W.tb, W.b, W.ldb, 0, j0);
  P.c = W.c + i0 * W.ldc + j0;
  P.bias = W.bias ? W.bias + j0 : nullptr;
  run_product(*job.ks, P);
}

// --- small-m path ---------------------------------------------------------------------------------------------
// Products with at most kSmallM rows of C (and, transposed, single-column products C^T = op(B)^T op(A)^T) skip
// packing: B is streamed once by the small-m kernels (see kernel_set.hpp). Threads split the columns of C (each
// column computed by one thread over the full k) or, for large B in the axpy form, fixed slabs of k (see k_slabs),
// so results do not depend on the thread count.

// Elements of B streamed per thread below which the small path stays on one thread (a handoff costs ~1-2 us,
// about the time one core needs to stream 200 KB from L2).
constexpr int64_t kSmallMinPerThread = 48 * 1024;
constexpr int64_t kSmallColumnUnit = 64;  // column split granularity (whole kernel blocks)

struct SmallPlan {
  bool dot;                 // dot form (B stored transposed) else axpy form
  int64_t m, n, k;
  const float* a;
  int64_t rsa, csa;         // axpy: op(A)(i, p) = a[i * rsa + p * csa]; dot: rsa is A's row stride
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  float alpha, beta;
  const float* bias;
  int64_t bias_inc;
  const GemmEpilogue* ep;
};

bool plan_small(const Product& P, SmallPlan* s) {
  if (P.k <= 0 || P.alpha == 0.0f || P.m <= 0 || P.n <= 0) return false;
  SmallPlan q{false, P.m, P.n, P.k, P.a, 0, 0, P.b, P.ldb, P.c, P.ldc, P.alpha, P.beta, P.bias, 1, P.ep};
  if (P.m <= kSmallM) {
    if (!P.tb) {  // axpy over the rows of B
      q.rsa = P.ta ? 1 : P.lda;
      q.csa = P.ta ? P.lda : 1;
    } else if (!P.ta) {  // dot products of A rows with B's stored rows
      q.dot = true;
      q.rsa = P.lda;
    } else {
      return false;
    }
  } else if (P.n == 1 && P.ldc == 1) {
    // C^T (1 x m) = op(B)^T (1 x k) op(A)^T (k x m), with op(B)^T(0, p) = tb ? b[p] : b[p * ldb].
    q.m = 1;
    q.n = P.m;
    q.c = P.c;
    q.ldc = P.m;
    q.bias_inc = 0;
    if (P.ta) {  // op(A)^T is A as stored (k x m): axpy
      q.a = P.b;
      q.rsa = 0;
      q.csa = P.tb ? 1 : P.ldb;
      q.b = P.a;
      q.ldb = P.lda;
    } else {  // op(A)^T is A stored transposed: dot products with A's rows; op(B)^T must be contiguous
      if (!P.tb && P.ldb != 1) return false;
      q.dot = true;
      q.a = P.b;
      q.rsa = P.k;
      q.b = P.a;
      q.ldb = P.lda;
    }
  } else {
    return false;
  }
  *s = q;
  return true;
}

// Columns [j0, j1) of a small plan, with the epilogue's block function.
void run_small_cols(const KernelSet& ks, const SmallPlan& s, int64_t j0, int64_t j1) {
  const int64_t cols = j1 - j0;
  if (cols <= 0) return;
  const float* bias = s.bias ? s.bias + j0 * s.bias_inc : nullptr;
  float* c = s.c + j0;
  if (s.dot) {
    ks.small_dot(s.m, cols, s.k, s.a, s.rsa, s.b + j0 * s.ldb, s.ldb, c, s.ldc, s.alpha, s.beta, bias, s.bias_inc);
  } else {
    ks.small_m(s.m, cols, s.k, s.a, s.rsa, s.csa, s.b + j0, s.ldb, c, s.ldc, s.alpha, s.beta, bias, s.bias_inc);
  }
  if (s.ep && s.ep->block_fn) s.ep->block_fn(c, s.ldc, s.m, cols, s.ep->ctx);
}

// Large B in the axpy form is cut into slabs of whole rows (k ranges) instead: a column split makes each thread read
// part of every row of B, so with the row stride a multiple of 2 KB a thread's lines fall into half of its L2's
// sets, and a 784x512 layer followed by a 512x256 one (1 MB per thread) thrashes the L2 of each core (one-row
// predict of a 784-512-256-10 MLP: 20 us; slabs: 14 us). Each slab's partial product is one FMA chain per element
// over the slab's rows; the partials are added in slab order, then the epilogue. The slab count depends only on the
// shape, never on the thread count, so the bits do not either.
constexpr int64_t kSlabMinElems = 64 * 1024;  // elements of B per slab
constexpr int64_t kSlabMinRows = 64;          // partials (slabs x m x n) stay <= 1/8 of B for m <= kSmallM
constexpr int64_t kMaxSlabs = 16;

int64_t k_slabs(const SmallPlan& s) {
  int64_t slabs = 1;
  if (s.dot) return slabs;
  while (2 * slabs <= kMaxSlabs && s.k / (2 * slabs) >= kSlabMinRows && s.k * s.n / (2 * slabs) >= kSlabMinElems) {
    slabs *= 2;
  }
  return slabs;
}

// Slab t's rows of B times the matching columns of op(A): part (m x n, row stride n) = op(A)[:, k0:k1] B[k0:k1, :].
void run_slab(const KernelSet& ks, const SmallPlan& s, int64_t slabs, int64_t t, float* part) {
  const int64_t k0 = t * s.k / slabs, k1 = (t + 1) * s.k / slabs;
  ks.small_m(s.m, s.n, k1 - k0, s.a + k0 * s.csa, s.rsa, s.csa, s.b + k0 * s.ldb, s.ldb, part, s.n, 1.0f, 0.0f,
             nullptr, 0);
}

void run_small_slabs(const KernelSet& ks, const SmallPlan& s, int64_t slabs, int max_threads) {
  const int64_t mn = s.m * s.n;
  float* part = t_scratch.b.get(slabs * mn);  // the calling thread's; workers write disjoint slabs of it
  const int64_t threads = std::min<int64_t>({static_cast<int64_t>(max_threads), slabs, s.k * s.n / kSmallMinPerThread});
  if (threads <= 1) {
    for (int64_t t = 0; t < slabs; ++t) run_slab(ks, s, slabs, t, part + t * mn);
  } else {
    const SmallPlan* sp = &s;
    const KernelSet* kp = &ks;
    // Contiguous slab groups: the caller gets the first rows of B and a worker the last, call after call.
    parallel_chunks(slabs, threads, [sp, kp, slabs, part, mn](int64_t begin, int64_t end) {
      for (int64_t t = begin; t < end; ++t) run_slab(*kp, *sp, slabs, t, part + t * mn);
    });
  }
  for (int64_t t = 1; t < slabs; ++t) {
    const float* pt = part + t * mn;
    for (int64_t e = 0; e < mn; ++e) part[e] += pt[e];
  }
  for (int64_t i = 0; i < s.m; ++i) {
    const float* sum = part + i * s.n;
    float* cr = s.c + i * s.ldc;
    for (int64_t j = 0; j < s.n; ++j) {
      float r = s.alpha != 1.0f ? s.alpha * sum[j] : sum[j];
      if (s.beta != 0.0f) r += s.beta * cr[j];
      if (s.bias) r += s.bias[j * s.bias_inc];
      cr[j] = r;
    }
  }
  if (s.ep && s.ep->block_fn) s.ep->block_fn(s.c, s.ldc, s.m, s.n, s.ep->ctx);
}

void run_small_plan(const KernelSet& ks, const SmallPlan& s, int max_threads) {
  const int64_t slabs = k_slabs(s);
  if (slabs > 1) {
    run_small_slabs(ks, s, slabs, max_threads);
    return;
  }
  const int64_t units = ceil_div(s.n, kSmallColumnUnit);
  const int64_t by_size = s.k * s.n / kSmallMinPerThread;
  const int64_t threads = std::min<int64_t>({static_cast<int64_t>(max_threads), by_size, units});
  if (threads <= 1) {
    run_small_cols(ks, s, 0, s.n);
    return;
  }
  const SmallPlan* sp = &s;
  const KernelSet* kp = &ks;
  parallel_chunks(units, threads, [sp, kp](int64_t begin, int64_t end) {
    run_small_cols(*kp, *sp, begin * kSmallColumnUnit, std::min(sp->n, end * kSmallColumnUnit));
  });
}

}  // namespace

void check_args(bool ta, bool tb, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb, int64_t ldc) {
  if (m < 0 || n < 0 || k < 0) throw std::invalid_argument("fastann: sgemm with a negative dimension");
  const int64_t a_cols = ta ? m : k, b_cols = tb ? k : n;
  if (lda < std::max<int64_t>(1, a_cols) || ldb < std::max<int64_t>(1, b_cols) || ldc < std::max<int64_t>(1, n)) {
    throw std::invalid_argument("fastann: sgemm leading dimension smaller than the row length");
  }
}

int sgemm_threads(const KernelSet& ks, int64_t m, int64_t n, int64_t k) {
  (void)ks;
  // Thin-k products (outer products and the like) are bound by writing C, not by flops: count each element of
  // C as at least 8 k-steps of work, so a large C is still split.
  const double k_work = static_cast<double>(std::max<int64_t>(k, 8));
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * k_work;
  const int avail = get_num_threads();
  if (avail <= 1 || flops < 2 * kMinFlopsPerThread) return 1;
  const double by_size = flops / kMinFlopsPerThread;
  return by_size < avail ? static_cast<int>(by_size) : avail;
}

void sgemm_serial(const KernelSet& ks, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                  const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
                  const GemmEpilogue* epilogue) {
  const Product P{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                  epilogue ? epilogue->bias : nullptr, epilogue};
  SmallPlan s;
  if (plan_small(P, &s)) {
    run_small_plan(ks, s, 1);
    return;
  }
  run_product(ks, P);
}

}  // namespace gemm

void sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
           const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue* epilogue) {
  gemm::check_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  const gemm::KernelSet& ks = gemm::active_kernels();
  const gemm::Product whole{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                            epilogue ? epilogue->bias : nullptr, epilogue};
  gemm::SmallPlan small;
  if (gemm::plan_small(whole, &small)) {
    gemm::run_small_plan(ks, small, get_num_threads());
    return;
  }
  const int threads = (k == 0 || alpha == 0.0f) ? 1 : gemm::sgemm_threads(ks, m, n, k);
  if (threads <= 1) {
    gemm::run_product(ks, whole);
    return;
  }
  const gemm::ParallelJob job{&ks, whole, gemm::choose_grid(threads, m, n)};
  const int64_t bands = static_cast<int64_t>(job.grid.tm) * job.grid.tn;
  const gemm::ParallelJob* jp = &job;
  gemm::parallel_chunks(bands, bands, [jp](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t) gemm::run_band(*jp, t);
  });
}

}  // namespace fastann::cpu

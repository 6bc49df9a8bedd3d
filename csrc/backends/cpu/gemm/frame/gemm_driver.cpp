// GEMM driver: argument checks, the choice between the small-m path and the product paths (small_m.cpp, packed.cpp)
// and the split of C over threads.
//
// Threading: C is cut into a tm x tn grid of rectangles, one per thread, each computed as an independent product
// with the thread's own packing buffers (no synchronisation inside a product). The grid is chosen to minimise
// per-thread compute plus the packing each thread repeats, so with 2 threads the larger of m and n is split.
#include "gemm_driver.hpp"

#include <algorithm>
#include <stdexcept>

#include "backends/cpu/threadpool.hpp"
#include "parallel.hpp"
#include "product.hpp"

namespace fastann::cpu {
namespace gemm {
namespace {

// Below this many flops per thread a product stays on one thread (a pool handoff costs a few microseconds).
constexpr double kMinFlopsPerThread = 1.5e6;

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
    const double cost =
        static_cast<double>(m_part) * static_cast<double>(n_part) / 32.0 + 0.5 * static_cast<double>(m_part + n_part);
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
  const Product P{trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue ? epilogue->bias : nullptr,
                  epilogue};
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
  const gemm::Product whole{
      trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, epilogue ? epilogue->bias : nullptr, epilogue};
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

// Batched GEMM: independent products, parallelised across the batch when each product is too small to split well
// (no synchronisation, no repeated packing), otherwise one threaded product after another.
#include <algorithm>

#include "backends/cpu/threadpool.hpp"
#include "gemm_driver.hpp"
#include "parallel.hpp"

namespace fastann::cpu {

namespace {

struct BatchJob {
  const gemm::KernelSet* ks;
  bool ta, tb;
  int64_t m, n, k;
  float alpha;
  const float* const* a;
  int64_t lda;
  const float* const* b;
  int64_t ldb;
  float beta;
  float* const* c;
  int64_t ldc;
};

}  // namespace

void sgemm_batched(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* const* a,
                   int64_t lda, const float* const* b, int64_t ldb, float beta, float* const* c, int64_t ldc,
                   int64_t batch) {
  gemm::check_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (batch <= 0 || m == 0 || n == 0) return;
  const gemm::KernelSet& ks = gemm::active_kernels();
  const int per_product = gemm::sgemm_threads(ks, m, n, k);
  const int threads = get_num_threads();
  if (batch == 1 || (per_product >= threads && batch < 4 * static_cast<int64_t>(threads))) {
    // Few large products: thread inside each one.
    for (int64_t i = 0; i < batch; ++i) sgemm(trans_a, trans_b, m, n, k, alpha, a[i], lda, b[i], ldb, beta, c[i], ldc);
    return;
  }
  const BatchJob job{&ks, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc};
  const BatchJob* jp = &job;
  // Chunks of at least ~0.5 MFLOP (tiny batches stay on one thread), and up to 8 per thread so that a thread
  // sharing its core with other work takes fewer of them.
  const double flops = 2.0 * static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
  const int64_t by_size = static_cast<int64_t>(flops * static_cast<double>(batch) / 5e5);
  const int64_t chunks = std::min<int64_t>({batch, by_size, 8 * static_cast<int64_t>(threads)});
  gemm::parallel_chunks(batch, chunks, [jp](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      gemm::sgemm_serial(*jp->ks, jp->ta, jp->tb, jp->m, jp->n, jp->k, jp->alpha, jp->a[i], jp->lda, jp->b[i], jp->ldb,
                         jp->beta, jp->c[i], jp->ldc, nullptr);
    }
  });
}

}  // namespace fastann::cpu

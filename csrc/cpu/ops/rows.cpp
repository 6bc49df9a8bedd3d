// Row kernels of the layers (CPU): the bias gradient (column sums of dz, deterministic) and the row gather of a batch.
#include <algorithm>
#include <cstdint>

#include "backends/cpu/threadpool.hpp"
#include "cpu/ops/kernels.hpp"

namespace fastann::cpu {

namespace {

// Work of at least this many elements is split over the thread pool (each column by one thread, so the result does
// not depend on the thread count).
constexpr int64_t kParallelGrain = 32 * 1024;

}  // namespace

void column_sum(const float* dz, float* db, int64_t rows, int64_t cols) {
  // Split over columns (each column summed by one thread, rows in order): independent of the thread count.
  const int64_t grain = std::max<int64_t>(64, kParallelGrain / std::max<int64_t>(rows, 1));
  parallel_for(cols, grain, [&](int64_t b, int64_t e) {
    float* out = db + b;
    const int64_t w = e - b;
    std::fill(out, out + w, 0.0f);
    int64_t i = 0;
    for (; i + 4 <= rows; i += 4) {  // four rows per pass over db, still added in row order
      const float* __restrict r0 = dz + i * cols + b;
      const float* __restrict r1 = r0 + cols;
      const float* __restrict r2 = r1 + cols;
      const float* __restrict r3 = r2 + cols;
      float* __restrict o = out;
      for (int64_t j = 0; j < w; ++j) o[j] = (((o[j] + r0[j]) + r1[j]) + r2[j]) + r3[j];
    }
    for (; i < rows; ++i) {
      const float* __restrict r = dz + i * cols + b;
      float* __restrict o = out;
      for (int64_t j = 0; j < w; ++j) o[j] += r[j];
    }
  });
}

void gather_rows(const float* src, const int64_t* idx, int64_t n, int64_t cols, float* dst) {
  for (int64_t i = 0; i < n; ++i) std::copy(src + idx[i] * cols, src + (idx[i] + 1) * cols, dst + i * cols);
}

}  // namespace fastann::cpu

// The row ops' CPU kernels (float32): column sums split over the thread pool by columns (each column added in row
// order by one thread, so the result does not depend on the thread count), the row gather, and a finite scan that
// tests the exponent bits branch-free (vectorised) and looks for the position only in a chunk that has one.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "backends/cpu/float_mode.hpp"
#include "backends/cpu/threadpool.hpp"
#include "ops/rows/rows.hpp"

namespace fastann::ops::rows_kernels {

namespace {

// Work of at least this many elements is split over the thread pool.
constexpr int64_t kParallelGrain = 32 * 1024;

void column_sum_f32(const Tensor& dz, Tensor& db, int64_t rows, int64_t cols) {
  const cpu::FlushDenormalsScope flush;
  cpu_column_sum(dz.data<float>(), db.data<float>(), rows, cols);
}

void gather_f32(const Tensor& src, const int64_t* idx, int64_t n, int64_t cols, Tensor& dst) {
  cpu_gather(src.data<float>(), idx, n, cols, dst.data<float>());
}

int64_t first_non_finite_f32(const Tensor& t) { return cpu_first_non_finite(t.data<float>(), t.numel()); }

}  // namespace

void cpu_column_sum(const float* dz, float* db, int64_t rows, int64_t cols) {
  const int64_t grain = std::max<int64_t>(64, kParallelGrain / std::max<int64_t>(rows, 1));
  cpu::parallel_for(cols, grain, [&](int64_t b, int64_t e) {
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

void cpu_gather(const float* src, const int64_t* idx, int64_t n, int64_t cols, float* dst) {
  for (int64_t i = 0; i < n; ++i) std::copy(src + idx[i] * cols, src + (idx[i] + 1) * cols, dst + i * cols);
}

int64_t cpu_first_non_finite(const float* x, int64_t n) {
  std::atomic<int64_t> first{-1};
  cpu::parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; b += 4096) {
      const int64_t e = std::min(end, b + 4096);
      uint32_t bad = 0;
      for (int64_t i = b; i < e; ++i) {
        uint32_t bits;
        std::memcpy(&bits, x + i, sizeof bits);
        bad |= static_cast<uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
      }
      if (!bad) continue;
      for (int64_t i = b; i < e; ++i) {
        if (!std::isfinite(x[i])) {
          int64_t cur = first.load();
          while ((cur < 0 || i < cur) && !first.compare_exchange_weak(cur, i)) {
          }
          return;
        }
      }
    }
  });
  return first.load();
}

void register_cpu(Tables& t) {
  t.column_sum.add(DeviceType::CPU, DType::float32, &column_sum_f32);
  t.gather.add(DeviceType::CPU, DType::float32, &gather_f32);
  t.first_non_finite.add(DeviceType::CPU, DType::float32, &first_non_finite_f32);
}

}  // namespace fastann::ops::rows_kernels

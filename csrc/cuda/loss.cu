// Loss value + gradient in one pass (Keras semantics, the formulas of csrc/cpu/ops/loss.cpp in double): one thread
// per row writes the row's (weighted) loss to a scratch array and its gradient/probabilities; a single block then sums
// the rows in double (a fixed tree order: deterministic). An invalid sparse label is reported with its row.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "cuda/backend.hpp"
#include "cuda/internal.hpp"

namespace fastann::cuda {

namespace {

using ops::Loss;

constexpr double kClipLo = static_cast<double>(1e-7f);
constexpr double kClipHi = static_cast<double>(static_cast<float>(1.0 - 1e-7));

// Keras's probability clip to [kClipLo, kClipHi] as the CPU computes it (std::min(std::max(x, lo), hi)): a NaN
// stays NaN, so a NaN prediction gives a NaN loss on both devices (fmin/fmax would clip it to a finite bound).
__device__ __forceinline__ double clip_prob(double x) {
  const double lo = x < kClipLo ? kClipLo : x;
  return kClipHi < lo ? kClipHi : lo;
}

__device__ __forceinline__ double sigmoid_d(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + exp(-x));
  const double e = exp(x);
  return e / (1.0 + e);
}

__device__ double elementwise_row(Loss kind, const float* p, const float* y, int64_t cols, float* g, double gscale,
                                  float delta) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double pj = p[j], yj = y[j];
    double l = 0.0, d = 0.0;
    if (kind == Loss::mse) {
      const double e = pj - yj;
      l = e * e;
      d = 2.0 * e;
    } else if (kind == Loss::mae) {
      const double e = pj - yj;
      l = fabs(e);
      d = e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : 0.0);
    } else if (kind == Loss::huber) {
      const double e = pj - yj, a = fabs(e);
      if (a <= delta) {
        l = 0.5 * e * e;
        d = e;
      } else {
        l = delta * (a - 0.5 * delta);
        d = e > 0.0 ? delta : -delta;
      }
    } else {  // bce on probabilities
      const double c = clip_prob(pj);
      l = -(yj * log(c) + (1.0 - yj) * log(1.0 - c));
      d = (pj > kClipLo && pj < kClipHi) ? -(yj / c) + (1.0 - yj) / (1.0 - c) : 0.0;
    }
    sum += l;
    if (g) g[j] = static_cast<float>(d * gscale / static_cast<double>(cols));
  }
  return sum / static_cast<double>(cols);
}

__device__ double bce_logits_row(const float* z, const float* y, int64_t cols, float* g, float* probs,
                                 double gscale) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double zj = z[j], yj = y[j];
    sum += fmax(zj, 0.0) - zj * yj + log1p(exp(-fabs(zj)));
    const double s = sigmoid_d(zj);
    if (g) g[j] = static_cast<float>((s - yj) * gscale / static_cast<double>(cols));
    if (probs) probs[j] = static_cast<float>(s);
  }
  return sum / static_cast<double>(cols);
}

__device__ double cce_logits_row(const float* z, const float* t, int64_t label, int64_t cols, float* g,
                                 float* probs, double gscale) {
  double m = z[0];
  for (int64_t j = 1; j < cols; ++j) m = fmax(m, static_cast<double>(z[j]));
  double se = 0.0;
  for (int64_t j = 0; j < cols; ++j) se += exp(z[j] - m);
  const double lse = m + log(se);
  double loss = 0.0, tsum = 1.0;
  if (t) {
    tsum = 0.0;
    for (int64_t j = 0; j < cols; ++j) {
      loss += t[j] * (lse - z[j]);
      tsum += t[j];
    }
  } else {
    loss = lse - z[label];
  }
  if (g || probs) {
    for (int64_t j = 0; j < cols; ++j) {
      const double s = exp(z[j] - lse);
      if (probs) probs[j] = static_cast<float>(s);
      if (g) {
        const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
        g[j] = static_cast<float>((s * tsum - tj) * gscale);
      }
    }
  }
  return loss;
}

__device__ double cce_probs_row(const float* p, const float* t, int64_t label, int64_t cols, float* g,
                                double gscale) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += p[j];
  double loss = 0.0, gq_dot_q = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
    const double q = p[j] / s;
    const double c = clip_prob(q);
    if (tj != 0.0) loss -= tj * log(c);
    const double gq = (q > kClipLo && q < kClipHi) ? -tj / c : 0.0;
    gq_dot_q += gq * q;
    if (g) g[j] = static_cast<float>(gq);
  }
  if (g) {
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>((g[j] - gq_dot_q) / s * gscale);
  }
  return loss;
}

__global__ void loss_rows_kernel(ops::LossParams p, const float* pred, const float* y, int64_t rows, int64_t cols,
                                 float* grad, float* probs, float grad_scale, const float* weights, double* out,
                                 unsigned long long* bad_row) {
  FASTANN_GRID_STRIDE(i, rows) {
    const float* pr = pred + i * cols;
    float* gr = grad ? grad + i * cols : nullptr;
    float* qr = probs ? probs + i * cols : nullptr;
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    const double gs = static_cast<double>(grad_scale) * w;
    double l = 0.0;
    switch (p.kind) {
      case Loss::mse:
      case Loss::mae:
      case Loss::huber:
        l = elementwise_row(p.kind, pr, y + i * cols, cols, gr, gs, p.delta);
        break;
      case Loss::bce:
        l = p.from_logits ? bce_logits_row(pr, y + i * cols, cols, gr, qr, gs)
                          : elementwise_row(Loss::bce, pr, y + i * cols, cols, gr, gs, p.delta);
        break;
      case Loss::cce:
        l = p.from_logits ? cce_logits_row(pr, y + i * cols, 0, cols, gr, qr, gs)
                          : cce_probs_row(pr, y + i * cols, 0, cols, gr, gs);
        break;
      case Loss::scce: {
        const float label = y[i];
        const auto k = static_cast<int64_t>(label);
        if (!(static_cast<float>(k) == label) || k < 0 || k >= cols) {
          atomicMin(bad_row, static_cast<unsigned long long>(i));
          l = 0.0;
          break;
        }
        l = p.from_logits ? cce_logits_row(pr, nullptr, k, cols, gr, qr, gs)
                          : cce_probs_row(pr, nullptr, k, cols, gr, gs);
        break;
      }
    }
    out[i] = weights ? w * l : l;
  }
}

constexpr int kSumThreads = 1024;

// The sum of v[0..n) by one block of kSumThreads threads (strided partial sums, then a tree: a fixed order, so
// deterministic); the result is valid in thread 0.
__device__ double block_sum(const double* v, int64_t n) {
  __shared__ double part[kSumThreads];
  double s = 0.0;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) s += v[i];
  part[threadIdx.x] = s;
  __syncthreads();
  for (int w = blockDim.x / 2; w > 0; w >>= 1) {
    if (static_cast<int>(threadIdx.x) < w) part[threadIdx.x] += part[threadIdx.x + w];
    __syncthreads();
  }
  return part[0];
}

__global__ void sum_kernel(const double* v, int64_t n, double* total) {
  const double s = block_sum(v, n);
  if (threadIdx.x == 0) total[0] = s;
}

// *sum += the sum of v; the first step whose sum is not finite goes to *first_bad (while it is negative).
__global__ void accumulate_kernel(const double* v, int64_t n, double* sum, double* first_bad, int64_t step) {
  const double s = block_sum(v, n);
  if (threadIdx.x == 0) {
    *sum += s;
    if (!isfinite(s) && *first_bad < 0.0) *first_bad = static_cast<double>(step);
  }
}

// acc[0] += sum of v[0..n), acc[1] += sum of v[n..2n) (one block).
__global__ void accumulate2_kernel(const double* v, int64_t n, double* acc) {
  const double s0 = block_sum(v, n);
  if (threadIdx.x == 0) acc[0] += s0;
  __syncthreads();  // block_sum's shared array is reused
  const double s1 = block_sum(v + n, n);
  if (threadIdx.x == 0) acc[1] += s1;
}

// std::max_element's index (the first maximum; a NaN is never greater), as the CPU's argmax_row.
__device__ int64_t argmax_row_d(const float* r, int64_t cols) {
  int64_t best = 0;
  for (int64_t j = 1; j < cols; ++j) {
    if (r[best] < r[j]) best = j;
  }
  return best;
}

// The CPU's sparse_target: a float class index, or -1.
__device__ int64_t sparse_target_d(float v) {
  return v >= 0.0f && v < 9.0e15f && v == floorf(v) ? static_cast<int64_t>(v) : -1;
}

// Per-row w * value into out[i] and w into out[rows + i], for the sample-mean metrics (cpu metric_update).
__global__ void metric_rows_kernel(ops::MetricParams p, const float* pred, const float* y, const float* weights,
                                   int64_t rows, int64_t cols, double* out) {
  using ops::Metric;
  FASTANN_GRID_STRIDE(i, rows) {
    const float* pr = pred + i * cols;
    const float* yr = y + i * cols;
    double v = 0.0;
    switch (p.kind) {
      case Metric::binary_accuracy: {
        int64_t hits = 0;
        for (int64_t j = 0; j < cols; ++j) hits += ((pr[j] > p.threshold ? 1.0f : 0.0f) == yr[j]);
        v = static_cast<double>(hits) / static_cast<double>(cols);
        break;
      }
      case Metric::categorical_accuracy: v = argmax_row_d(pr, cols) == argmax_row_d(yr, cols) ? 1.0 : 0.0; break;
      case Metric::sparse_categorical_accuracy:
        v = argmax_row_d(pr, cols) == sparse_target_d(y[i]) ? 1.0 : 0.0;
        break;
      case Metric::mse:
      case Metric::mae: {
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
          const double e = static_cast<double>(pr[j]) - yr[j];
          s += p.kind == Metric::mse ? e * e : fabs(e);
        }
        v = s / static_cast<double>(cols);
        break;
      }
      default: break;
    }
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    out[i] = w * v;
    out[rows + i] = w;
  }
}

}  // namespace

double loss(int device, const ops::LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
            float* grad, float* probs, float grad_scale, const float* weights) {
  if (rows <= 0) return 0.0;
  DeviceGuard g(device);
  // Scratch: rows doubles, the total, the bad-row flag.
  std::shared_ptr<void> scratch = allocate(static_cast<size_t>(rows + 2) * sizeof(double), device);
  auto* per_row = static_cast<double*>(scratch.get());
  double* total = per_row + rows;
  auto* bad = reinterpret_cast<unsigned long long*>(per_row + rows + 1);
  const unsigned long long none = ~0ULL;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(bad, &none, sizeof(none), cudaMemcpyHostToDevice, stream()));
  loss_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream()>>>(p, pred, y, rows, cols, grad, probs, grad_scale,
                                                                  weights, per_row, bad);
  FASTANN_CUDA_CHECK_LAUNCH("loss");
  sum_kernel<<<1, kSumThreads, 0, stream()>>>(per_row, rows, total);
  FASTANN_CUDA_CHECK_LAUNCH("loss sum");
  double host[2] = {0.0, 0.0};
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(host, total, 2 * sizeof(double), cudaMemcpyDeviceToHost, stream()));
  FASTANN_CUDA_CHECK(cudaStreamSynchronize(stream()));
  unsigned long long bad_row = 0;
  static_assert(sizeof(bad_row) == sizeof(double), "flag slot");
  std::memcpy(&bad_row, &host[1], sizeof(bad_row));
  if (bad_row != none) {
    float label = 0.0f;
    FASTANN_CUDA_CHECK(cudaMemcpy(&label, y + bad_row, sizeof(float), cudaMemcpyDeviceToHost));
    std::ostringstream os;
    os << "sparse_categorical_crossentropy: label " << label << " at row " << bad_row
       << " is not a class index in [0, " << cols << ")";
    throw ValueError(os.str());
  }
  return host[0];
}

void loss_accumulate(int device, const ops::LossParams& p, const float* pred, const float* y, int64_t rows,
                     int64_t cols, float* grad, float* probs, float grad_scale, const float* weights, double* sum,
                     double* first_bad, int64_t step) {
  if (rows <= 0) return;
  DeviceGuard g(device);
  // Scratch: rows doubles and the bad-label flag the row kernel may write (never read: labels were checked). Freed
  // to the stream's pool on return, reused only by later work on the stream.
  std::shared_ptr<void> scratch = allocate(static_cast<size_t>(rows + 1) * sizeof(double), device);
  auto* per_row = static_cast<double*>(scratch.get());
  auto* bad = reinterpret_cast<unsigned long long*>(per_row + rows);
  loss_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream()>>>(p, pred, y, rows, cols, grad, probs, grad_scale,
                                                                  weights, per_row, bad);
  FASTANN_CUDA_CHECK_LAUNCH("loss");
  accumulate_kernel<<<1, kSumThreads, 0, stream()>>>(per_row, rows, sum, first_bad, step);
  FASTANN_CUDA_CHECK_LAUNCH("loss accumulate");
}

void metric_accumulate(int device, const ops::MetricParams& p, const float* pred, const float* y,
                       const float* weights, int64_t rows, int64_t cols, double* acc) {
  if (!ops::metric_is_sample_mean(p.kind)) {
    throw ValueError(std::string("metric_accumulate: ") + ops::metric_name(p.kind) + " is not accumulated on the GPU");
  }
  if (rows <= 0) return;
  DeviceGuard g(device);
  std::shared_ptr<void> scratch = allocate(static_cast<size_t>(2 * rows) * sizeof(double), device);
  auto* per_row = static_cast<double*>(scratch.get());
  metric_rows_kernel<<<blocks_for(rows, 128), 128, 0, stream()>>>(p, pred, y, weights, rows, cols, per_row);
  FASTANN_CUDA_CHECK_LAUNCH("metric");
  accumulate2_kernel<<<1, kSumThreads, 0, stream()>>>(per_row, rows, acc);
  FASTANN_CUDA_CHECK_LAUNCH("metric accumulate");
}

}  // namespace fastann::cuda

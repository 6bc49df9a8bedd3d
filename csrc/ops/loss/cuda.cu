// The loss op's CUDA kernels (float32). Loss value + gradient in one pass (Keras semantics: the per-row formulas of
// formulas.hpp, shared with the CPU): one thread per row writes the row's (weighted) loss to a scratch array and its
// gradient/probabilities; a single block then sums the rows in double (a fixed tree order: deterministic). An invalid
// sparse label is reported with its row. The sample-mean metrics are accumulated the same way (metric_accumulate).
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>

#include "backends/cuda/backend.hpp"
#include "backends/cuda/internal.hpp"
#include "ops/loss/formulas.hpp"
#include "ops/loss/loss.hpp"

namespace fastann::ops::loss_kernels {

namespace {

__global__ void loss_rows_kernel(LossParams p, const float* pred, const float* y, int64_t rows, int64_t cols,
                                 float* grad, float* probs, float grad_scale, const float* weights, double* out,
                                 unsigned long long* bad_row) {
  FASTANN_GRID_STRIDE(i, rows) {
    const float* pr = pred + i * cols;
    float* gr = grad ? grad + i * cols : nullptr;
    float* qr = probs ? probs + i * cols : nullptr;
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    const double gs = static_cast<double>(grad_scale) * w;
    double l = 0.0;
    const int64_t k = p.kind == Loss::scce ? loss_formulas::class_of(y[i], cols) : 0;
    if (k < 0) {
      atomicMin(bad_row, static_cast<unsigned long long>(i));  // reported by the host; the row counts 0
    } else {
      l = loss_formulas::row_loss(p, pr, y, i, k, cols, gr, qr, gs);
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

// Per element: |w| into v[i], w^2 into v[n + i] (double); g += grad_scale * (l1 sign(w) + 2 l2 w) (the CPU's float
// arithmetic) when g is given.
__global__ void regularizer_kernel(float l1, float l2, const float* w, float* g, float grad_scale, int64_t n,
                                   double* v) {
  const float c1 = l1 * grad_scale, c2 = 2.0f * l2 * grad_scale;
  FASTANN_GRID_STRIDE(i, n) {
    const float wi = w[i];
    v[i] = fabs(static_cast<double>(wi));
    v[n + i] = static_cast<double>(wi) * wi;
    if (g) {
      const float sg = wi > 0.0f ? 1.0f : (wi < 0.0f ? -1.0f : 0.0f);
      g[i] += c1 * sg + c2 * wi;
    }
  }
}

// *acc += factor * (l1 * sum of v[0..n) + l2 * sum of v[n..2n)) (one block).
__global__ void penalty_accumulate_kernel(const double* v, int64_t n, float l1, float l2, double factor, double* acc) {
  const double s1 = block_sum(v, n);
  __syncthreads();  // block_sum's shared array is reused
  const double s2 = block_sum(v + n, n);
  if (threadIdx.x == 0) *acc += factor * (static_cast<double>(l1) * s1 + static_cast<double>(l2) * s2);
}

// Per-row w * value into out[i] and w into out[rows + i], for the sample-mean metrics (cpu metric_update).
__global__ void metric_rows_kernel(MetricParams p, const float* pred, const float* y, const float* weights,
                                   int64_t rows, int64_t cols, double* out) {
  FASTANN_GRID_STRIDE(i, rows) {
    const float* yr = p.kind == Metric::sparse_categorical_accuracy ? y + i : y + i * cols;  // a class index
    const double v = loss_formulas::sample_metric(p, pred + i * cols, yr, cols);
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    out[i] = w * v;
    out[rows + i] = w;
  }
}

double loss_raw(int device, const LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
                float* grad, float* probs, float grad_scale, const float* weights) {
  if (rows <= 0) return 0.0;
  cuda::DeviceGuard g(device);
  // Scratch: rows doubles, the total, the bad-row flag.
  std::shared_ptr<void> scratch = cuda::allocate(static_cast<size_t>(rows + 2) * sizeof(double), device);
  auto* per_row = static_cast<double*>(scratch.get());
  double* total = per_row + rows;
  auto* bad = reinterpret_cast<unsigned long long*>(per_row + rows + 1);
  const unsigned long long none = ~0ULL;
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(bad, &none, sizeof(none), cudaMemcpyHostToDevice, cuda::stream()));
  loss_rows_kernel<<<cuda::blocks_for(rows, 128), 128, 0, cuda::stream()>>>(p, pred, y, rows, cols, grad, probs,
                                                                            grad_scale, weights, per_row, bad);
  FASTANN_CUDA_CHECK_LAUNCH("loss");
  sum_kernel<<<1, kSumThreads, 0, cuda::stream()>>>(per_row, rows, total);
  FASTANN_CUDA_CHECK_LAUNCH("loss sum");
  double host[2] = {0.0, 0.0};
  FASTANN_CUDA_CHECK(cudaMemcpyAsync(host, total, 2 * sizeof(double), cudaMemcpyDeviceToHost, cuda::stream()));
  FASTANN_CUDA_CHECK(cudaStreamSynchronize(cuda::stream()));
  unsigned long long bad_row = 0;
  static_assert(sizeof(bad_row) == sizeof(double), "flag slot");
  std::memcpy(&bad_row, &host[1], sizeof(bad_row));
  if (bad_row != none) {
    float label = 0.0f;
    FASTANN_CUDA_CHECK(cudaMemcpy(&label, y + bad_row, sizeof(float), cudaMemcpyDeviceToHost));
    std::ostringstream os;
    os << "sparse_categorical_crossentropy: label " << label << " at row " << bad_row << " is not a class index in [0, "
       << cols << ")";
    throw ValueError(os.str());
  }
  return host[0];
}

void loss_accumulate_raw(int device, const LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
                         float* grad, float* probs, float grad_scale, const float* weights, double* sum,
                         double* first_bad, int64_t step) {
  if (rows <= 0) return;
  cuda::DeviceGuard g(device);
  // Scratch: rows doubles and the bad-label flag the row kernel may write (never read: labels were checked). Freed
  // to the stream's pool on return, reused only by later work on the stream.
  std::shared_ptr<void> scratch = cuda::allocate(static_cast<size_t>(rows + 1) * sizeof(double), device);
  auto* per_row = static_cast<double*>(scratch.get());
  auto* bad = reinterpret_cast<unsigned long long*>(per_row + rows);
  loss_rows_kernel<<<cuda::blocks_for(rows, 128), 128, 0, cuda::stream()>>>(p, pred, y, rows, cols, grad, probs,
                                                                            grad_scale, weights, per_row, bad);
  FASTANN_CUDA_CHECK_LAUNCH("loss");
  accumulate_kernel<<<1, kSumThreads, 0, cuda::stream()>>>(per_row, rows, sum, first_bad, step);
  FASTANN_CUDA_CHECK_LAUNCH("loss accumulate");
}

void metric_accumulate_raw(int device, const MetricParams& p, const float* pred, const float* y, const float* weights,
                           int64_t rows, int64_t cols, double* acc) {
  if (!metric_is_sample_mean(p.kind)) {
    throw ValueError(std::string("metric_accumulate: ") + metric_name(p.kind) + " is not accumulated on the GPU");
  }
  if (rows <= 0) return;
  cuda::DeviceGuard g(device);
  std::shared_ptr<void> scratch = cuda::allocate(static_cast<size_t>(2 * rows) * sizeof(double), device);
  auto* per_row = static_cast<double*>(scratch.get());
  metric_rows_kernel<<<cuda::blocks_for(rows, 128), 128, 0, cuda::stream()>>>(p, pred, y, weights, rows, cols, per_row);
  FASTANN_CUDA_CHECK_LAUNCH("metric");
  accumulate2_kernel<<<1, kSumThreads, 0, cuda::stream()>>>(per_row, rows, acc);
  FASTANN_CUDA_CHECK_LAUNCH("metric accumulate");
}

void regularizer_accumulate_raw(int device, float l1, float l2, const float* w, float* g, float grad_scale, int64_t n,
                                double* acc, double factor) {
  if (n <= 0) return;
  cuda::DeviceGuard guard(device);
  std::shared_ptr<void> scratch = cuda::allocate(static_cast<size_t>(2 * n) * sizeof(double), device);
  auto* v = static_cast<double*>(scratch.get());
  regularizer_kernel<<<cuda::blocks_for(n, 256), 256, 0, cuda::stream()>>>(l1, l2, w, g, grad_scale, n, v);
  FASTANN_CUDA_CHECK_LAUNCH("regularizer");
  penalty_accumulate_kernel<<<1, kSumThreads, 0, cuda::stream()>>>(v, n, l1, l2, factor, acc);
  FASTANN_CUDA_CHECK_LAUNCH("regularizer sum");
}

const float* data_or_null(const Tensor* t) { return t ? t->data<float>() : nullptr; }
float* data_or_null(Tensor* t) { return t ? t->data<float>() : nullptr; }

double loss_f32(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs, float grad_scale,
                const Tensor* weights, int64_t rows, int64_t cols) {
  return loss_raw(pred.device().index, p, pred.data<float>(), y.data<float>(), rows, cols, data_or_null(grad),
                  data_or_null(probs), grad_scale, data_or_null(weights));
}

void loss_accumulate_f32(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs,
                         float grad_scale, const Tensor* weights, int64_t rows, int64_t cols, double* sum,
                         double* first_bad, int64_t step) {
  loss_accumulate_raw(pred.device().index, p, pred.data<float>(), y.data<float>(), rows, cols, data_or_null(grad),
                      data_or_null(probs), grad_scale, data_or_null(weights), sum, first_bad, step);
}

void regularizer_accumulate_f32(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale, double* acc,
                                double factor) {
  regularizer_accumulate_raw(w.device().index, l1, l2, w.data<float>(), data_or_null(g), grad_scale, w.numel(), acc,
                             factor);
}

void metric_f32(const MetricParams& p, const Tensor& pred, const Tensor& y, const Tensor* weights, int64_t rows,
                int64_t cols, double* acc) {
  metric_accumulate_raw(pred.device().index, p, pred.data<float>(), y.data<float>(), data_or_null(weights), rows, cols,
                        acc);
}

}  // namespace

void register_cuda(Tables& t) {
  t.loss.add(DeviceType::CUDA, DType::float32, &loss_f32);
  t.loss_accumulate.add(DeviceType::CUDA, DType::float32, &loss_accumulate_f32);
  t.regularizer_accumulate.add(DeviceType::CUDA, DType::float32, &regularizer_accumulate_f32);
  t.metric.add(DeviceType::CUDA, DType::float32, &metric_f32);
}

}  // namespace fastann::ops::loss_kernels

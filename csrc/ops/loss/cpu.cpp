// The loss op's CPU kernels (float32): Keras semantics, one pass over the predictions (the per-row maths of
// formulas.hpp, shared with the CUDA kernels), sums in double; the metrics' streaming states; the L1/L2 penalty.
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backends/cpu/float_mode.hpp"
#include "core/check.hpp"
#include "ops/loss/formulas.hpp"
#include "ops/loss/loss.hpp"

namespace fastann::ops::loss_kernels {

namespace {

int64_t class_index(float label, int64_t cols, int64_t row) {
  const int64_t k = loss_formulas::class_of(label, cols);
  if (k < 0) {
    FASTANN_THROW(ValueError, "sparse_categorical_crossentropy: label "
                                  << label << " at row " << row << " is not a class index in [0, " << cols << ")");
  }
  return k;
}

}  // namespace

double cpu_loss(const LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols, float* grad,
                float* probs, float grad_scale, const float* weights) {
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    float* gr = grad ? grad + i * cols : nullptr;
    float* qr = probs ? probs + i * cols : nullptr;
    // A sample's weight scales its loss and its gradient.
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    const double gs = static_cast<double>(grad_scale) * w;
    const int64_t k = p.kind == Loss::scce ? class_index(y[i], cols, i) : 0;
    const double l = loss_formulas::row_loss(p, pr, y, i, k, cols, gr, qr, gs);
    total += weights ? w * l : l;
  }
  return total;
}

namespace {

// 1 when the target class's prediction is among the k largest of the row (ties at the boundary count as in:
// fewer than k predictions are strictly larger), as TensorFlow's in_top_k. A NaN prediction is never in.
double in_top_k(const float* pr, int64_t cols, int64_t target, int64_t k) {
  if (target < 0 || target >= cols) return 0.0;
  const float pt = pr[target];
  if (std::isnan(pt)) return 0.0;
  int64_t larger = 0;
  for (int64_t j = 0; j < cols; ++j) larger += pr[j] > pt;
  return larger < k ? 1.0 : 0.0;
}

using loss_formulas::argmax;
using loss_formulas::sparse_target;

}  // namespace

void cpu_class_sample_weights(const float* y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, float* w) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* yr = y + i * cols;
    int64_t label = -1;
    if (cols > 1) {
      label = argmax(yr, cols);
    } else {
      const float r = std::nearbyint(yr[0]);  // half to even (the default rounding mode), as np.round
      if (r >= 0.0f && r < static_cast<float>(ncw)) label = static_cast<int64_t>(r);
    }
    w[i] = label >= 0 && label < ncw ? cw[label] : 1.0f;
  }
}

void cpu_metric_update(const MetricParams& p, const float* pred, const float* y, const float* weights, int64_t rows,
                       int64_t cols, double* state) {
  const Metric m = p.kind;
  if (m == Metric::auc) {
    // Keras's bucketing of evenly spaced thresholds: a prediction clipped to [0, 1] lies in bucket
    // max(ceil(p * (n - 1)) - 1, 0) (float32 arithmetic), i.e. it is above the thresholds 0 .. bucket.
    const int64_t n = p.num_thresholds;
    const float scale = static_cast<float>(n - 1);
    double* pos = state;
    double* neg = state + n;
    for (int64_t i = 0; i < rows; ++i) {
      const double w = weights ? static_cast<double>(weights[i]) : 1.0;
      for (int64_t j = 0; j < cols; ++j) {
        const float v = pred[i * cols + j];
        const float c = std::isnan(v) ? 0.0f : std::min(std::max(v, 0.0f), 1.0f);
        const auto b = std::min<int64_t>(std::max<int64_t>(static_cast<int64_t>(std::ceil(c * scale)) - 1, 0), n - 1);
        (y[i * cols + j] != 0.0f ? pos : neg)[b] += w;
      }
    }
    return;
  }
  if (m == Metric::precision || m == Metric::recall) {
    // state: [true positives, false positives (precision) or false negatives (recall)]
    for (int64_t i = 0; i < rows; ++i) {
      const double w = weights ? static_cast<double>(weights[i]) : 1.0;
      for (int64_t j = 0; j < cols; ++j) {
        const bool predicted = pred[i * cols + j] > p.threshold, actual = y[i * cols + j] != 0.0f;
        if (predicted && actual)
          state[0] += w;
        else if (m == Metric::precision ? predicted : actual)
          state[1] += w;
      }
    }
    return;
  }
  // Means of per-sample values: state [sum of w * value, sum of w].
  const bool sparse = metric_is_sparse(m);
  double sum = 0.0, wsum = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    const float* yr = y + i * cols;
    double v = 0.0;
    if (m == Metric::top_k_categorical_accuracy) {
      v = in_top_k(pr, cols, argmax(yr, cols), p.k);
    } else if (m == Metric::sparse_top_k_categorical_accuracy) {
      v = in_top_k(pr, cols, sparse_target(y[i]), p.k);
    } else {
      v = loss_formulas::sample_metric(p, pr, sparse ? y + i : yr, cols);
    }
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    sum += w * v;
    wsum += w;
  }
  state[0] += sum;
  state[1] += wsum;
}

double cpu_regularizer(float l1, float l2, const float* w, float* g, float grad_scale, int64_t n) {
  double s1 = 0.0, s2 = 0.0;
  for (int64_t i = 0; i < n; ++i) {
    s1 += std::fabs(w[i]);
    s2 += static_cast<double>(w[i]) * w[i];
  }
  if (g) {
    const float c1 = l1 * grad_scale, c2 = 2.0f * l2 * grad_scale;
    for (int64_t i = 0; i < n; ++i) {
      const float wi = w[i];
      const float sg = wi > 0.0f ? 1.0f : (wi < 0.0f ? -1.0f : 0.0f);
      g[i] += c1 * sg + c2 * wi;
    }
  }
  return static_cast<double>(l1) * s1 + static_cast<double>(l2) * s2;
}

namespace {

const float* data_or_null(const Tensor* t) { return t ? t->data<float>() : nullptr; }
float* data_or_null(Tensor* t) { return t ? t->data<float>() : nullptr; }

double loss_f32(const LossParams& p, const Tensor& pred, const Tensor& y, Tensor* grad, Tensor* probs, float grad_scale,
                const Tensor* weights, int64_t rows, int64_t cols) {
  const cpu::FlushDenormalsScope flush;
  return cpu_loss(p, pred.data<float>(), y.data<float>(), rows, cols, data_or_null(grad), data_or_null(probs),
                  grad_scale, data_or_null(weights));
}

double regularizer_f32(float l1, float l2, const Tensor& w, Tensor* g, float grad_scale) {
  const cpu::FlushDenormalsScope flush;
  return cpu_regularizer(l1, l2, w.data<float>(), data_or_null(g), grad_scale, w.numel());
}

void metric_f32(const MetricParams& p, const Tensor& pred, const Tensor& y, const Tensor* weights, int64_t rows,
                int64_t cols, double* state) {
  const cpu::FlushDenormalsScope flush;
  cpu_metric_update(p, pred.data<float>(), y.data<float>(), data_or_null(weights), rows, cols, state);
}

void class_weights_f32(const Tensor& y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, Tensor& w) {
  cpu_class_sample_weights(y.data<float>(), rows, cols, cw, ncw, w.data<float>());
}

}  // namespace

void register_cpu(Tables& t) {
  t.loss.add(DeviceType::CPU, DType::float32, &loss_f32);
  t.regularizer.add(DeviceType::CPU, DType::float32, &regularizer_f32);
  t.metric.add(DeviceType::CPU, DType::float32, &metric_f32);
  t.class_weights.add(DeviceType::CPU, DType::float32, &class_weights_f32);
}

}  // namespace fastann::ops::loss_kernels

// Loss value + gradient kernels (CPU), Keras semantics, one pass over the predictions; the finite check of inputs.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "backends/cpu/threadpool.hpp"
#include "core/check.hpp"
#include "cpu/ops/kernels.hpp"
#include "ops/loss_rows.hpp"

namespace fastann::cpu {

namespace {

using ops::Loss;

int64_t class_index(float label, int64_t cols, int64_t row) {
  const int64_t k = ops::rows::class_of(label, cols);
  if (k < 0) {
    FASTANN_THROW(ValueError, "sparse_categorical_crossentropy: label " << label << " at row " << row
                                  << " is not a class index in [0, " << cols << ")");
  }
  return k;
}

}  // namespace

double loss(const ops::LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
            float* grad, float* probs, float grad_scale, const float* weights) {
  double total = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    float* gr = grad ? grad + i * cols : nullptr;
    float* qr = probs ? probs + i * cols : nullptr;
    // A sample's weight scales its loss and its gradient.
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    const double gs = static_cast<double>(grad_scale) * w;
    const int64_t k = p.kind == Loss::scce ? class_index(y[i], cols, i) : 0;
    const double l = ops::rows::row_loss(p, pr, y, i, k, cols, gr, qr, gs);
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

using ops::rows::argmax;
using ops::rows::sparse_target;

}  // namespace

void class_sample_weights(const float* y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, float* w) {
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

void metric_update(const ops::MetricParams& p, const float* pred, const float* y, const float* weights, int64_t rows,
                   int64_t cols, double* state) {
  using ops::Metric;
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
        if (predicted && actual) state[0] += w;
        else if (m == Metric::precision ? predicted : actual) state[1] += w;
      }
    }
    return;
  }
  // Means of per-sample values: state [sum of w * value, sum of w].
  const bool sparse = ops::metric_is_sparse(m);
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
      v = ops::rows::sample_metric(p, pr, sparse ? y + i : yr, cols);
    }
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    sum += w * v;
    wsum += w;
  }
  state[0] += sum;
  state[1] += wsum;
}

}  // namespace fastann::cpu

// Loss value + gradient kernels (CPU), Keras semantics, one pass over the predictions; the finite check of inputs.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <string>

#include "core/check.hpp"
#include "cpu/ops/kernels.hpp"
#include "cpu/threadpool.hpp"

namespace fastann::cpu {

namespace {

using ops::Loss;

// Keras clips probabilities to [epsilon, 1 - epsilon] with epsilon = 1e-7, in float32: the bounds below are those
// float32 values (1 - 1e-7 rounds to 1 - 2^-23), so clipped losses match Keras's exactly (e.g. -log(1 - upper)).
constexpr double kClipLo = static_cast<double>(1e-7f);
constexpr double kClipHi = static_cast<double>(static_cast<float>(1.0 - 1e-7));

inline double sigmoid_d(double x) {
  if (x >= 0.0) return 1.0 / (1.0 + std::exp(-x));
  const double e = std::exp(x);
  return e / (1.0 + e);
}

int64_t class_index(float label, int64_t cols, int64_t row) {
  const auto k = static_cast<int64_t>(label);
  if (!(static_cast<float>(k) == label) || k < 0 || k >= cols) {
    FASTANN_THROW(ValueError, "sparse_categorical_crossentropy: label " << label << " at row " << row
                                  << " is not a class index in [0, " << cols << ")");
  }
  return k;
}

// Per-row loss for mean-over-last-axis losses on probabilities/values.
template <Loss K>
double elementwise_row(const float* p, const float* y, int64_t cols, float* g, double gscale, float delta) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double pj = p[j], yj = y[j];
    double l = 0.0, d = 0.0;
    if constexpr (K == Loss::mse) {
      const double e = pj - yj;
      l = e * e;
      d = 2.0 * e;
    } else if constexpr (K == Loss::mae) {
      const double e = pj - yj;
      l = std::fabs(e);
      d = e > 0.0 ? 1.0 : (e < 0.0 ? -1.0 : 0.0);
    } else if constexpr (K == Loss::huber) {
      const double e = pj - yj, a = std::fabs(e);
      if (a <= delta) {
        l = 0.5 * e * e;
        d = e;
      } else {
        l = delta * (a - 0.5 * delta);
        d = e > 0.0 ? delta : -delta;
      }
    } else {  // bce on probabilities, clipped as Keras does (no gradient through the clip)
      const double c = std::min(std::max(pj, kClipLo), kClipHi);
      l = -(yj * std::log(c) + (1.0 - yj) * std::log(1.0 - c));
      d = (pj > kClipLo && pj < kClipHi) ? -(yj / c) + (1.0 - yj) / (1.0 - c) : 0.0;
    }
    sum += l;
    if (g) g[j] = static_cast<float>(d * gscale / static_cast<double>(cols));
  }
  return sum / static_cast<double>(cols);
}

// bce from logits: max(z, 0) - z*y + log(1 + exp(-|z|)); d/dz = sigmoid(z) - y.
double bce_logits_row(const float* z, const float* y, int64_t cols, float* g, float* probs, double gscale) {
  double sum = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double zj = z[j], yj = y[j];
    sum += std::max(zj, 0.0) - zj * yj + std::log1p(std::exp(-std::fabs(zj)));
    const double s = sigmoid_d(zj);
    if (g) g[j] = static_cast<float>((s - yj) * gscale / static_cast<double>(cols));
    if (probs) probs[j] = static_cast<float>(s);
  }
  return sum / static_cast<double>(cols);
}

// Categorical cross-entropy from logits for target distribution t (t == nullptr: one-hot at `label`):
// loss = sum_j t_j * (lse - z_j); d/dz_j = softmax_j * sum(t) - t_j.
double cce_logits_row(const float* z, const float* t, int64_t label, int64_t cols, float* g, float* probs,
                      double gscale) {
  double m = z[0];
  for (int64_t j = 1; j < cols; ++j) m = std::max(m, static_cast<double>(z[j]));
  double se = 0.0;
  for (int64_t j = 0; j < cols; ++j) se += std::exp(z[j] - m);
  const double lse = m + std::log(se);
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
      const double s = std::exp(z[j] - lse);
      if (probs) probs[j] = static_cast<float>(s);
      if (g) {
        const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
        g[j] = static_cast<float>((s * tsum - tj) * gscale);
      }
    }
  }
  return loss;
}

// Categorical cross-entropy on probabilities, as Keras: q = p / sum(p), clipped to [eps, 1 - eps],
// loss = -sum_j t_j log q_j; the gradient flows through the normalisation, not through the clip.
double cce_probs_row(const float* p, const float* t, int64_t label, int64_t cols, float* g, double gscale) {
  double s = 0.0;
  for (int64_t j = 0; j < cols; ++j) s += p[j];
  double loss = 0.0, gq_dot_q = 0.0;
  for (int64_t j = 0; j < cols; ++j) {
    const double tj = t ? t[j] : (j == label ? 1.0 : 0.0);
    const double q = p[j] / s;
    const double c = std::min(std::max(q, kClipLo), kClipHi);
    if (tj != 0.0) loss -= tj * std::log(c);
    const double gq = (q > kClipLo && q < kClipHi) ? -tj / c : 0.0;  // d loss / d q_j
    gq_dot_q += gq * q;
    if (g) g[j] = static_cast<float>(gq);
  }
  if (g) {
    for (int64_t j = 0; j < cols; ++j) g[j] = static_cast<float>((g[j] - gq_dot_q) / s * gscale);
  }
  return loss;
}

}  // namespace

double loss(const ops::LossParams& p, const float* pred, const float* y, int64_t rows, int64_t cols,
            float* grad, float* probs, float grad_scale, const float* weights) {
  double total = 0.0;
  const bool logits = p.from_logits;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    float* gr = grad ? grad + i * cols : nullptr;
    float* qr = probs ? probs + i * cols : nullptr;
    // A sample's weight scales its loss and its gradient.
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    const double gs = static_cast<double>(grad_scale) * w;
    double l = 0.0;
    switch (p.kind) {
      case Loss::mse: l = elementwise_row<Loss::mse>(pr, y + i * cols, cols, gr, gs, p.delta); break;
      case Loss::mae: l = elementwise_row<Loss::mae>(pr, y + i * cols, cols, gr, gs, p.delta); break;
      case Loss::huber: l = elementwise_row<Loss::huber>(pr, y + i * cols, cols, gr, gs, p.delta); break;
      case Loss::bce:
        l = logits ? bce_logits_row(pr, y + i * cols, cols, gr, qr, gs)
                   : elementwise_row<Loss::bce>(pr, y + i * cols, cols, gr, gs, p.delta);
        break;
      case Loss::cce:
        l = logits ? cce_logits_row(pr, y + i * cols, 0, cols, gr, qr, gs)
                   : cce_probs_row(pr, y + i * cols, 0, cols, gr, gs);
        break;
      case Loss::scce: {
        const int64_t k = class_index(y[i], cols, i);
        l = logits ? cce_logits_row(pr, nullptr, k, cols, gr, qr, gs) : cce_probs_row(pr, nullptr, k, cols, gr, gs);
        break;
      }
    }
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

int64_t argmax_row(const float* r, int64_t cols) { return std::max_element(r, r + cols) - r; }

// Sparse targets hold class indices as floats; anything else (checked by the callers) is no class.
int64_t sparse_target(float v) {
  return v >= 0.0f && v < 9.0e15f && v == std::floor(v) ? static_cast<int64_t>(v) : -1;
}

}  // namespace

void class_sample_weights(const float* y, int64_t rows, int64_t cols, const float* cw, int64_t ncw, float* w) {
  for (int64_t i = 0; i < rows; ++i) {
    const float* yr = y + i * cols;
    int64_t label = -1;
    if (cols > 1) {
      label = argmax_row(yr, cols);
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
  double sum = 0.0, wsum = 0.0;
  for (int64_t i = 0; i < rows; ++i) {
    const float* pr = pred + i * cols;
    const float* yr = y + i * cols;
    double v = 0.0;
    switch (m) {
      case Metric::binary_accuracy: {
        int64_t hits = 0;
        for (int64_t j = 0; j < cols; ++j) hits += ((pr[j] > p.threshold ? 1.0f : 0.0f) == yr[j]);
        v = static_cast<double>(hits) / static_cast<double>(cols);
        break;
      }
      case Metric::categorical_accuracy: v = argmax_row(pr, cols) == argmax_row(yr, cols) ? 1.0 : 0.0; break;
      case Metric::sparse_categorical_accuracy: v = argmax_row(pr, cols) == sparse_target(y[i]) ? 1.0 : 0.0; break;
      case Metric::top_k_categorical_accuracy: v = in_top_k(pr, cols, argmax_row(yr, cols), p.k); break;
      case Metric::sparse_top_k_categorical_accuracy: v = in_top_k(pr, cols, sparse_target(y[i]), p.k); break;
      case Metric::mse:
      case Metric::mae: {
        double s = 0.0;
        for (int64_t j = 0; j < cols; ++j) {
          const double e = static_cast<double>(pr[j]) - yr[j];
          s += m == Metric::mse ? e * e : std::fabs(e);
        }
        v = s / static_cast<double>(cols);
        break;
      }
      default: break;
    }
    const double w = weights ? static_cast<double>(weights[i]) : 1.0;
    sum += w * v;
    wsum += w;
  }
  state[0] += sum;
  state[1] += wsum;
}

int64_t first_non_finite(const float* x, int64_t n) {
  // Chunks scan branch-free (the exponent-all-ones test vectorises); only a chunk that has one looks for where.
  std::atomic<int64_t> first{-1};
  parallel_for(n, 1 << 16, [&](int64_t begin, int64_t end) {
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

}  // namespace fastann::cpu
